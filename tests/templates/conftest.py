"""Helpers for the templates' tests: instantiate a template, wait for a run to end."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import Account

FINISHED = ("succeeded", "failed", "cancelled")


async def instantiate(
    client: httpx.AsyncClient, who: Account, ref: str, name: str, **params: Any
) -> httpx.Response:
    body = {"name": name, "params": params}
    return await client.post(f"/api/v1/templates/{ref}/instantiate", json=body, headers=who.headers)


async def run_to_end(
    client: httpx.AsyncClient, who: Account, workflow: str, within: float = 170
) -> dict[str, Any]:
    """Start a run of `workflow` with its defaults; the run once it has ended. Generous:
    each scikit-learn task imports numpy and scipy in a process of its own, which takes
    seconds on a busy 2-CPU machine (a safety net against a hung run, not a speed check)."""
    started = await client.post(f"/api/v1/workflows/{workflow}/runs", json={}, headers=who.headers)
    assert started.status_code == 201, started.text
    deadline = time.monotonic() + within
    while True:
        run: dict[str, Any] = (
            await client.get(f"/api/v1/runs/{started.json()['id']}", headers=who.headers)
        ).json()
        if run["status"] in FINISHED:
            return run
        assert time.monotonic() < deadline, f"run still {run['status']} after {within} s"
        await asyncio.sleep(0.1)


def attempt(run: dict[str, Any], key: str) -> dict[str, Any]:
    """The last attempt of task `key` in `run`."""
    task = next(t for t in run["tasks"] if t["key"] == key)
    last: dict[str, Any] = task["attempts"][-1]
    return last


async def metrics(client: httpx.AsyncClient, who: Account, run_id: int) -> dict[str, list[float]]:
    """The run's metric values by key, in the order logged."""
    rows = (await client.get(f"/api/v1/runs/{run_id}/metrics", headers=who.headers)).json()
    out: dict[str, list[float]] = {}
    for m in rows:
        out.setdefault(m["key"], []).append(m["value"])
    return out


async def artifacts(client: httpx.AsyncClient, who: Account, run_id: int) -> dict[str, int]:
    """The run's artifacts: name -> id."""
    rows = (await client.get(f"/api/v1/runs/{run_id}/artifacts", headers=who.headers)).json()
    return {a["name"]: a["id"] for a in rows}
