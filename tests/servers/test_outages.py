"""Redis or PostgreSQL stops for a while during runs: what needs it answers 503
problem+json, everything reconnects by itself, and every run finishes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from plait.db.models import Event
from plait.events.bus import Message
from plait.settings import Settings
from tests.conftest import Account
from tests.orchestration.test_engine import py, start, wait
from tests.servers.conftest import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.slow
OUTAGE_SECONDS = 10.0


@pytest.fixture
def settings(settings: Settings, private_redis: PrivateRedis) -> Settings:
    return settings.model_copy(update={"redis_url": private_redis.url})


def is_problem(response: httpx.Response, status: int, mentions: str) -> bool:
    return (
        response.status_code == status
        and response.headers["content-type"] == "application/problem+json"
        and mentions in response.json()["detail"]
        and "Traceback" not in response.text
    )


async def poll(check: Any, within: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.1)


async def test_redis_stopped_for_a_while(
    app: FastAPI,
    client: httpx.AsyncClient,
    accounts: dict[str, Account],
    private_redis: PrivateRedis,
) -> None:
    heard: list[Message] = []
    app.state.services.bus.listen(heard.extend)
    ed = accounts["editor"]
    run = await start(client, ed, [py("a", "import time; time.sleep(3)"), py("b", "pass", "a")])
    private_redis.stop()
    down_until = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < down_until:
        assert is_problem(await client.get("/readyz"), 503, "redis")
        assert (await client.get(f"/api/v1/runs/{run['id']}", headers=ed.headers)).is_success
        await asyncio.sleep(0.5)
    private_redis.start()
    assert (await wait(client, ed, run["id"], within=60))["status"] == "succeeded"
    assert (await client.get("/readyz")).json()["redis"] == "ok"

    async def told_of_the_end() -> bool:  # the bus is subscribed again, the backlog sent
        return any(m["type"] == "run.succeeded" and m["run_id"] == run["id"] for m in heard)

    await poll(told_of_the_end, what="the run's end reached the bus after Redis came back")
    ids = [m["id"] for m in heard]
    assert ids == sorted(ids)


class TestPostgresStopped:
    @pytest.fixture
    def database_url(self, private_postgres: PrivatePostgres) -> str:
        return private_postgres.url

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings  # no private Redis needed here

    async def test_requests_answer_503_and_everything_carries_on(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        accounts: dict[str, Account],
        private_postgres: PrivatePostgres,
    ) -> None:
        ed = accounts["editor"]
        run = await start(client, ed, [py("a", "import time; time.sleep(3)"), py("b", "pass", "a")])
        private_postgres.stop()
        down_until = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < down_until:
            assert is_problem(await client.get("/readyz"), 503, "database")
            got = await client.get(f"/api/v1/runs/{run['id']}", headers=ed.headers)
            assert is_problem(got, 503, "database"), got.text
            await asyncio.sleep(0.5)
        private_postgres.start()
        assert (await wait(client, ed, run["id"], within=60))["status"] == "succeeded"
        assert (await client.get("/readyz")).status_code == 200
        # The scheduler loop carries on: a new run goes through it, start to end.
        again = await client.post("/api/v1/workflows/wf/runs", json={}, headers=ed.headers)
        assert (await wait(client, ed, again.json()["id"]))["status"] == "succeeded"

        async def all_published() -> bool:  # and so does the dispatcher
            async with app.state.plait.db.read() as session:
                left = await session.scalar(
                    select(func.count()).select_from(Event).where(Event.published_at.is_(None))
                )
            return bool(left == 0)

        await poll(all_published, what="the dispatcher published what the outage held")
