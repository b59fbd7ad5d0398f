"""The outbox: events are published once committed, in order; what a crash left unpublished
is published by the next dispatcher; one failing handler stops nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import Event
from plait.events import outbox
from plait.events.bus import MemoryBus, Message
from plait.events.dispatcher import Dispatcher


async def test_a_crash_before_publishing_loses_nothing(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        await _truncate_events(db)
        async with db.write() as session:  # committed, then the server "dies": no dispatcher
            for i in range(5):
                outbox.record(session, "test.happened", run_id=1, n=i)
        heard: list[Message] = []
        bus = MemoryBus()
        bus.listen(heard.extend)
        handled: list[int] = []

        async def broken(session: AsyncSession, event: Event) -> None:
            raise RuntimeError("a handler with a bug")

        async def counting(session: AsyncSession, event: Event) -> None:
            handled.append(event.data["n"])

        restarted = Dispatcher(db, bus, handlers=[broken, counting])
        assert await restarted.dispatch_once() == 5
        assert [m["data"]["n"] for m in heard] == [0, 1, 2, 3, 4]
        assert [m["id"] for m in heard] == sorted(m["id"] for m in heard)
        assert handled == [0, 1, 2, 3, 4]  # the broken handler did not stop this one
        assert await restarted.dispatch_once() == 0  # published once
        async with db.read() as session:
            left = await session.scalar(
                select(func.count()).select_from(Event).where(Event.published_at.is_(None))
            )
        assert left == 0
    finally:
        await db.dispose()


async def _truncate_events(db: Database) -> None:
    from sqlalchemy import delete

    async with db.write() as session:
        await session.execute(delete(Event))


async def test_status_changes_write_their_events_in_the_same_transaction(
    app: Any, client: Any, accounts: Any
) -> None:
    from tests.orchestration.test_engine import py, start, wait

    run = await start(client, accounts["editor"], [py("a", "pass")])
    await wait(client, accounts["editor"], run["id"])
    async with app.state.plait.db.read() as session:
        types = list(
            (await session.execute(
                select(Event.type).where(Event.run_id == run["id"]).order_by(Event.id)
            )).scalars()
        )  # fmt: skip
    assert types == ["run.queued", "run.running", "task.queued", "task.running", "task.succeeded",
                     "run.succeeded"]  # fmt: skip


async def test_published_events_past_the_retention_are_pruned(database_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        await _truncate_events(db)
        async with db.write() as session:
            for i in range(3):
                outbox.record(session, "test.old", n=i)
        dispatcher = Dispatcher(db, MemoryBus(), retention=timedelta(days=1))
        assert await dispatcher.dispatch_once() == 3
        async with db.write() as session:  # one more, never published (a dispatcher crashed)
            outbox.record(session, "test.unpublished")
        assert await dispatcher.prune_once(datetime.now(UTC)) == 0  # all too young
        assert await dispatcher.prune_once(datetime.now(UTC) + timedelta(days=2)) == 3
        async with db.read() as session:
            left = list((await session.execute(select(Event.type))).scalars())
        assert left == ["test.unpublished"]  # unpublished events are never pruned
    finally:
        await db.dispose()
