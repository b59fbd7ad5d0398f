"""Live events leave in id order on PostgreSQL too, where ids are taken before commit and a
later id may commit first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from plait.db.engine import Database
from plait.events import outbox
from plait.events.bus import MemoryBus, Message
from plait.events.dispatcher import Dispatcher
from tests.conftest import _truncate

pytestmark = pytest.mark.postgresql


@pytest.fixture
async def db(pg_database: str) -> AsyncIterator[Database]:
    await _truncate(pg_database)
    database = Database(pg_database)
    yield database
    await database.dispose()


def dispatcher(db: Database) -> tuple[Dispatcher, list[Message]]:
    heard: list[Message] = []
    bus = MemoryBus()
    bus.listen(heard.extend)
    return Dispatcher(db, bus), heard


async def record(db: Database, name: str) -> None:
    async with db.write() as session:
        outbox.record(session, name)


async def test_a_later_id_that_commits_first_waits_for_the_earlier_one(db: Database) -> None:
    publisher, heard = dispatcher(db)
    await record(db, "before")
    assert await publisher.dispatch_once() == 1
    slow_flushed, slow_commit = asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:
        async with db.write() as session:
            outbox.record(session, "slow")
            await session.flush()  # its id is taken now; the commit comes later
            slow_flushed.set()
            await slow_commit.wait()

    slow = asyncio.create_task(slow_writer())
    await slow_flushed.wait()
    await record(db, "fast")  # the next id, committed first
    assert await publisher.dispatch_once() == 0  # "fast" waits for "slow"
    slow_commit.set()
    await slow
    assert await publisher.dispatch_once() == 2
    assert [m["type"] for m in heard] == ["before", "slow", "fast"]
    assert [m["id"] for m in heard] == sorted(m["id"] for m in heard)


async def test_an_id_that_never_commits_holds_the_stream_only_briefly(db: Database) -> None:
    publisher, heard = dispatcher(db)
    publisher.gap_wait = 0.3
    await record(db, "before")
    await publisher.dispatch_once()
    async with db.write() as session:
        outbox.record(session, "rolled back")
        await session.flush()
        await session.rollback()
    await record(db, "after")
    deadline = time.monotonic() + 10
    while await publisher.dispatch_once() == 0:
        assert time.monotonic() < deadline, "the gap of a rolled-back id blocked events"
        await asyncio.sleep(0.05)
    assert [m["type"] for m in heard] == ["before", "after"]


async def test_the_running_loop_publishes_in_id_order(db: Database) -> None:
    publisher, heard = dispatcher(db)
    await record(db, "before")
    await publisher.start()
    try:
        release = asyncio.Event()

        async def writer(name: str, hold: bool) -> None:
            async with db.write() as session:
                outbox.record(session, name)
                await session.flush()
                if hold:
                    await release.wait()

        slow = asyncio.create_task(writer("slow", True))
        await asyncio.sleep(0.1)
        await writer("fast", False)
        await asyncio.sleep(0.3)  # the dispatcher looked, and must not have sent "fast"
        assert "fast" not in [m["type"] for m in heard]
        release.set()
        await slow
        deadline = time.monotonic() + 10
        while len(heard) < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        await publisher.stop()
    assert [m["type"] for m in heard] == ["before", "slow", "fast"]
