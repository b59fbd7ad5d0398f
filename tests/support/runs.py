"""Running a workflow to its end through the API, for tests that need one to have run."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import Account

FINISHED = ("succeeded", "failed", "cancelled")


async def trigger(client: httpx.AsyncClient, who: Account, workflow: str) -> dict[str, Any]:
    response = await client.post(f"/api/v1/workflows/{workflow}/runs", json={},
                                 headers=who.headers)  # fmt: skip
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_run(
    client: httpx.AsyncClient,
    who: Account,
    run_id: int,
    until: tuple[str, ...] = FINISHED,
    within: float = 30,
) -> tuple[dict[str, Any], int]:
    """The run once its status is one of `until`, and how many GETs that took."""
    deadline, polls = time.monotonic() + within, 0
    while True:
        response = await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)
        polls += 1
        run: dict[str, Any] = response.json()
        if run["status"] in until:
            return run, polls
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']} after {within} s"
        await asyncio.sleep(0.05)
