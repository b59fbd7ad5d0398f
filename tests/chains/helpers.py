"""Helpers for chain tests: finish a run, let its end trigger what it triggers, find what it
started."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from fastapi import FastAPI

from plait.db.models import Event
from plait.orchestration import chains
from tests.conftest import Account
from tests.orchestration.test_engine import wait


async def finished(app: FastAPI, client: httpx.AsyncClient, who: Account, run_id: int) -> Any:
    """Wait for the run to end (the dispatcher hands its end to the chain handler)."""
    return await wait(client, who, run_id)


async def feed(app: FastAPI, run: dict[str, Any]) -> list[int]:
    """Hand the run's end event to the chain handler, as the dispatcher does (in a write
    transaction); wake the scheduler for the runs it started. Returns their ids."""
    event = Event(type=f"run.{run['status']}", run_id=run["id"], workflow_id=run["workflow_id"],
                  data={"status": run["status"], "workflow": run["workflow"]})  # fmt: skip
    async with app.state.plait.db.write() as session:
        started = await chains.start_downstream(session, event)
    for run_id in started:
        app.state.plait.wake(run_id)
    return started


async def downstream(
    client: httpx.AsyncClient, who: Account, workflow: str, upstream_id: int, within: float = 10
) -> dict[str, Any]:
    """The run of `workflow` that run `upstream_id` started."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await chained(client, who, workflow, upstream_id)
        if found:
            assert len(found) == 1, found
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {upstream_id} started no run of {workflow} in {within} s")


async def chained(
    client: httpx.AsyncClient, who: Account, workflow: str, upstream_id: int
) -> list[dict[str, Any]]:
    page = await client.get("/api/v1/runs", params={"workflow": workflow, "trigger": "upstream"},
                            headers=who.headers)  # fmt: skip
    assert page.status_code == 200, page.text
    return [r for r in page.json()["items"] if r["upstream_run_id"] == upstream_id]


async def create(client: httpx.AsyncClient, who: Account, doc: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v1/workflows", json=doc, headers=who.headers)
