"""Workflows to sweep and their sweeps through the API, for the sweep tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import Account

# A score with its top at lr=0.05, depth=5: the best run is known from the params alone.
SCORE = (
    "import plait\np = plait.params()\n"
    "plait.log_metric('score', -(p['lr'] - 0.05) ** 2 - 0.001 * (p['depth'] - 5) ** 2)\n"
    "plait.log_metric('depth_seen', p['depth'])\n"
)
PARAMS = {
    "lr": {"type": "number", "default": 0.1, "minimum": 0, "maximum": 1},
    "depth": {"type": "integer", "default": 3},
    "dropout": {"type": "number", "default": 0.0},
    "n": {"type": "integer", "default": 1},
    "label": {"type": "string", "default": "x"},
}


async def sweepable(
    client: httpx.AsyncClient, who: Account, name: str = "train", code: str = SCORE
) -> None:
    """A workflow of one python task with the params above, running up to 10 runs at once
    (so that only a sweep's own max_parallel holds its runs back)."""
    doc = {"name": name, "params": PARAMS, "max_active_runs": 10,
           "tasks": [{"key": "fit", "kind": "python", "code": code}]}  # fmt: skip
    made = await client.post("/api/v1/workflows", json=doc, headers=who.headers)
    assert made.status_code == 201, made.text


async def sweep(
    client: httpx.AsyncClient, who: Account, name: str = "train", **body: Any
) -> httpx.Response:
    return await client.post(f"/api/v1/workflows/{name}/sweeps", json=body, headers=who.headers)


async def until_ended(
    client: httpx.AsyncClient, who: Account, sweep_id: int, within: float = 90, **query: str
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            got = await client.get(f"/api/v1/sweeps/{sweep_id}", params=query, headers=who.headers)
            body: dict[str, Any] = got.json()
            if body["status"] != "running":
                return body
            await asyncio.sleep(0.1)
