"""The delivery worker beside real runs: a dead channel never slows a run nor another channel,
and a run past its workflow's SLA is told once."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from plait.db.engine import Database
from plait.db.models import Delivery, Event
from plait.notifications.rules import EVENTS, on_event
from plait.notifications.worker import DeliveryWorker
from plait.settings import Settings
from tests.conftest import Account
from tests.notifications.conftest import Loopback, channel, rule
from tests.orchestration.test_engine import py, start, wait

Accounts = dict[str, Account]
KEY = "whsec-0123456789abcdef"


@contextlib.asynccontextmanager
async def dispatching(db: Database) -> AsyncIterator[None]:
    """Stands in for the event dispatcher: hands each new outbox row to the handler."""

    async def pump() -> None:
        async with db.read() as session:
            last = await session.scalar(select(func.max(Event.id))) or 0
        while True:
            async with db.read() as session:
                rows = await session.execute(
                    select(Event).where(Event.id > last).order_by(Event.id)
                )
                events = list(rows.scalars())
            if events:
                async with db.write() as session:
                    for row in events:
                        await on_event(session, row)
                last = events[-1].id
            await asyncio.sleep(0.05)

    task = asyncio.create_task(pump())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], bool | Awaitable[bool]], within: float = 10) -> float:
    """Wait for `check` to hold; returns when it did (time.monotonic)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return time.monotonic()
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {within} s")


async def statuses(db: Database, channel_id: int) -> list[tuple[str, str, int]]:
    async with db.read() as session:
        rows = await session.execute(
            select(Delivery.event_type, Delivery.status, Delivery.attempts)
            .where(Delivery.channel_id == channel_id)
            .order_by(Delivery.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def webhook(client: httpx.AsyncClient, who: Account, name: str, url: str) -> dict[str, Any]:
    return await channel(client, who, name=name, kind="webhook", config={"url": url}, secret=KEY)


async def test_a_dead_channel_never_delays_a_run_nor_the_other_channels(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    settings: Settings,
    http_server: Loopback,
    black_hole: int,
    tmp_path: Path,
) -> None:
    editor = accounts["editor"]
    dead = await webhook(client, editor, "dead", f"http://127.0.0.1:{black_hole}/hook")
    alive = await webhook(client, editor, "alive", http_server.url)
    for ch in (dead, alive):
        await rule(client, editor, ch["id"], list(EVENTS))
    # Fails once, then passes on its retry: events task.retrying, then run.succeeded.
    flaky = (
        f"import pathlib\nmark = pathlib.Path({str(tmp_path / 'tried')!r})\n"
        "if not mark.exists():\n    mark.touch()\n    raise SystemExit('first try fails')\n"
    )
    tasks = [py("flaky", flaky, retries=1, retry_delay=0), py("after", "pass", "flaky")]
    # Each try at the dead channel hangs for the whole timeout: 2 messages x 3 tries = 6 s.
    worker = DeliveryWorker(db, settings.model_copy(update={"notify_timeout_seconds": 1.0}))
    await worker.start()
    try:
        async with dispatching(db):
            run = await start(client, editor, tasks, name="flaky")
            done = await wait(client, editor, run["id"], within=20)
            assert done["status"] == "succeeded"
            # The retry did not wait for the dead channel: its first message still hangs.
            assert (await statuses(db, dead["id"]))[0][1] == "pending"
            # The live channel hears of the end while the dead one still hangs on its first
            # tries: it never waited for the dead one's timeouts and retries.
            await until(lambda: len(http_server.requests) == 2)
            assert [r.headers["X-Plait-Event"] for r in http_server.requests] == [
                "task.retrying",
                "run.succeeded",
            ]
            assert [s for _, s, _ in await statuses(db, dead["id"])] == ["pending", "pending"]

            async def dead_done() -> bool:
                final = await statuses(db, dead["id"])
                return all(status == "failed" for _, status, _ in final)

            await until(dead_done, within=20)
    finally:
        await worker.stop()
    assert await statuses(db, dead["id"]) == [
        ("task.retrying", "failed", 3),
        ("run.succeeded", "failed", 3),
    ]
    async with db.read() as session:
        errors = set(
            (
                await session.execute(
                    select(Delivery.error).where(Delivery.channel_id == dead["id"])
                )
            ).scalars()
        )
    assert errors == {"no answer within 1 s"}


@pytest.fixture
async def slow_run(client: httpx.AsyncClient, accounts: Accounts) -> AsyncIterator[dict[str, Any]]:
    """A run of a workflow with a 0.5 s SLA that goes on for minutes (cancelled at the end)."""
    editor = accounts["editor"]
    doc = {
        "name": "slow",
        "sla_seconds": 0.5,
        "tasks": [py("sleep", "import time\ntime.sleep(120)")],
    }
    created = await client.post("/api/v1/workflows", json=doc, headers=editor.headers)
    assert created.status_code == 201 and created.json()["sla_seconds"] == 0.5
    run = (await client.post("/api/v1/workflows/slow/runs", json={}, headers=editor.headers)).json()
    await wait(client, editor, run["id"], until=("running",))
    yield run
    await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=editor.headers)
    await wait(client, editor, run["id"])


async def test_a_run_past_its_sla_is_told_once(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    worker: DeliveryWorker,
    http_server: Loopback,
    slow_run: dict[str, Any],
) -> None:
    editor = accounts["editor"]
    ch = await webhook(client, editor, "ops", http_server.url)
    await rule(
        client, editor, ch["id"], ["run.duration_exceeded"], scope="workflow", scope_value="slow"
    )
    for _ in range(100):
        await worker.run_once()
        if http_server.requests:
            break
        await asyncio.sleep(0.05)
    for _ in range(3):  # later polls, and another server's, add nothing
        await worker.run_once()
        assert await DeliveryWorker(db, worker.settings).sla.check() == 0
    [got] = http_server.requests
    body = got.json()
    assert got.headers["X-Plait-Event"] == "run.duration_exceeded"
    assert body["run_id"] == slow_run["id"] and body["sla_seconds"] == 0.5
    assert "over its limit of 0.5 s" in body["title"]
    assert await statuses(db, ch["id"]) == [("run.duration_exceeded", "sent", 1)]


async def test_no_sla_rule_means_no_sla_work(
    client: httpx.AsyncClient,
    accounts: Accounts,
    worker: DeliveryWorker,
    http_server: Loopback,
    slow_run: dict[str, Any],
) -> None:
    ch = await webhook(client, accounts["editor"], "ops", http_server.url)
    await rule(client, accounts["editor"], ch["id"], ["run.failed"])
    await asyncio.sleep(0.6)
    assert await worker.sla.check() == 0


async def test_a_backlog_on_one_channel_never_starves_another(
    client: httpx.AsyncClient, accounts: Accounts, db: Database, worker: DeliveryWorker
) -> None:
    editor = accounts["editor"]
    stuck = await webhook(client, editor, "stuck", "http://127.0.0.1:9/")
    other = await webhook(client, editor, "other", "http://127.0.0.1:9/")
    async with db.write() as session:
        backlog = [(stuck["id"], str(i)) for i in range(50)]
        for channel_id, dedupe in [*backlog, (other["id"], "x")]:  # the other's is the newest
            session.add(Delivery(channel_id=channel_id, event_type="run.failed", dedupe=dedupe,
                                 status="pending", next_attempt_at=datetime.now(UTC)))  # fmt: skip
    first = await worker.claim(2, busy=set())
    assert sorted(job.target.name for job in first) == ["other", "stuck"]
    assert await worker.claim(2, busy={stuck["id"], other["id"]}) == []
    again = await worker.claim(5, busy={other["id"]})
    assert [(job.target.name, job.attempt) for job in again] == [("stuck", 1)]
