"""Worker heartbeats: the workers table follows them, people see live workers, and a worker
hears which of its attempts to stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from plait.db.models import Worker
from tests.conftest import Account

HEARTBEAT = "/api/v1/exec/workers/heartbeat"


def beat(name: str, **fields: Any) -> dict[str, Any]:
    return {"worker": name, "queues": ["default"], "concurrency": 2, "running": [], **fields}


async def listed(client: httpx.AsyncClient, viewer: Account) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/workers", headers=viewer.headers)
    assert response.status_code == 200, response.text
    workers: list[dict[str, Any]] = response.json()
    return workers


async def test_heartbeats_keep_one_row_per_worker_and_viewers_see_it(
    client: httpx.AsyncClient, accounts: dict[str, Account], worker: dict[str, str]
) -> None:
    first = await client.post(HEARTBEAT, json=beat("gpu-1:41"), headers=worker)
    assert first.json() == {"cancel": []}
    again = beat("gpu-1:41", queues=["gpu", "default"], concurrency=4)
    assert (await client.post(HEARTBEAT, json=again, headers=worker)).status_code == 200
    await client.post(HEARTBEAT, json=beat("cpu-7:9"), headers=worker)

    workers = await listed(client, accounts["viewer"])
    assert [w["name"] for w in workers] == ["cpu-7:9", "gpu-1:41"]
    gpu = workers[1]
    assert (gpu["hostname"], gpu["queues"], gpu["concurrency"]) == ("gpu-1", ["gpu", "default"], 4)
    assert gpu["last_seen"] >= gpu["started_at"]


async def test_a_silent_worker_drops_off_the_list(
    client: httpx.AsyncClient, accounts: dict[str, Account], worker: dict[str, str], app: FastAPI
) -> None:
    await client.post(HEARTBEAT, json=beat("old:1"), headers=worker)
    await client.post(HEARTBEAT, json=beat("new:1"), headers=worker)
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    async with app.state.plait.db.write() as session:
        await session.execute(
            update(Worker).where(Worker.name == "old:1").values(last_seen=long_ago)
        )
    assert [w["name"] for w in await listed(client, accounts["viewer"])] == ["new:1"]
    await client.post(HEARTBEAT, json=beat("old:1"), headers=worker)  # back again
    assert len(await listed(client, accounts["viewer"])) == 2


async def test_attempts_the_server_does_not_know_are_to_be_stopped(
    client: httpx.AsyncClient, worker: dict[str, str]
) -> None:
    answer = await client.post(HEARTBEAT, json=beat("h:1", running=[7, 3, 7]), headers=worker)
    assert answer.json() == {"cancel": [3, 7]}


async def test_bad_heartbeats_are_problems_not_errors(
    client: httpx.AsyncClient, worker: dict[str, str]
) -> None:
    for body in (
        beat(""),
        beat("h:1", concurrency=0),
        beat("h:1", queues=["no spaces"]),
        beat("h:1", running=["1"]),
        beat("nul\x00:1"),
        {**beat("h:1"), "extra": 1},
    ):
        response = await client.post(HEARTBEAT, json=body, headers=worker)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
