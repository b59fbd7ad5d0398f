"""The dispatcher: takes committed, unpublished events in id order, lets the handlers react
(notifications, chains) in one transaction with marking them published, then publishes them.

A crash between a commit and the publish leaves the events unpublished; the next dispatcher
to start picks them up, so nothing is dropped (handlers are idempotent: at least once).

Ids are taken before commit: on PostgreSQL a transaction holding id n may commit after one
holding n+1. So the dispatcher publishes only up to the first gap in the ids (an id not yet
visible may still commit) and waits for it; a gap that stays open GAP_WAIT_SECONDS is a
rolled-back transaction's id (or one that commits very late: its event is then published out
of order, never lost). One dispatcher at a time publishes (an advisory lock on PostgreSQL,
the single writer on SQLite), so several server processes keep one order too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import Event
from plait.events.bus import Bus, Message
from plait.events.outbox import as_message
from plait.monitoring import instruments

log = logging.getLogger("plait.dispatcher")
Handler = Callable[[AsyncSession, Event], Awaitable[None]]
BATCH = 500
COALESCE_SECONDS = 0.02
PRUNE_EVERY_SECONDS = 60.0
PRUNE_BATCH = 5000
GAP_WAIT_SECONDS = 2.0  # longer than a write transaction takes from its first insert to commit
GAP_RETRY_SECONDS = 0.05
LOCK_KEY = 0x706C6169  # the advisory lock of the one publishing dispatcher ("plai")
# Events no handler reacts to, only published: one per metric point, thousands a second from
# a training loop, where a savepoint per handler per event would hold the writer for long.
UNHANDLED = frozenset({"metric"})


class Dispatcher:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        handlers: Sequence[Handler] = (),
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self.db = db
        self.bus = bus
        self.handlers = list(handlers)
        self.retention = retention
        self.gap_wait = GAP_WAIT_SECONDS
        self._high = 0  # the highest id published (or skipped) in order
        self._gap: tuple[int, float] | None = None  # first missing id, when first seen
        self._next_prune = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self.db.after_write = self.wake
        self._task = asyncio.create_task(self._loop(), name="plait-dispatcher")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self.db.after_write = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                # 1 s also catches other processes' events; a gap is looked at again soon
                async with asyncio.timeout(GAP_RETRY_SECONDS if self._gap else 1.0):
                    await self._wake.wait()
            self._wake.clear()
            # Let a burst of commits land first: one batch instead of a transaction per commit
            # (on SQLite every transaction here waits for the one writer, like the scheduler's).
            await asyncio.sleep(COALESCE_SECONDS)
            try:
                while await self.dispatch_once() == BATCH:
                    pass
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                    await self.prune_once(datetime.now(UTC))
            except Exception:  # keep dispatching; the failed batch stays unpublished
                log.exception("event dispatch failed")
                await asyncio.sleep(1.0)

    async def dispatch_once(self) -> int:
        """Handle and publish one batch of unpublished events; returns how many."""
        async with self.db.write(notify=False) as session:
            await self._publisher(session)
            query = select(Event).where(Event.published_at.is_(None)).order_by(Event.id)
            found = list((await session.execute(query.limit(BATCH))).scalars())
            events = await self._in_order(session, found)
            for event in events:
                await self._handle(session, event)
            if events:
                await session.execute(
                    update(Event)
                    .where(Event.id.in_([e.id for e in events]))
                    .values(published_at=datetime.now(UTC))
                    .execution_options(synchronize_session=False)
                )
            messages: list[Message] = [as_message(e) for e in events]
        if messages:
            await self._publish(messages)
        return len(messages)

    async def _publish(self, messages: list[Message]) -> None:
        """Publish a committed batch; if the bus is down (Redis stopped), the batch is marked
        unpublished again and goes out, in order, once the bus is back."""
        try:
            await self.bus.publish(messages)
            instruments.events_published.inc(len(messages))
        except Exception:
            ids = [m["id"] for m in messages]
            self._high = min(self._high, min(ids) - 1)
            async with self.db.write(notify=False) as session:
                await session.execute(
                    update(Event)
                    .where(Event.id.in_(ids))
                    .values(published_at=None)
                    .execution_options(synchronize_session=False)
                )
            raise

    async def _publisher(self, session: AsyncSession) -> None:
        """Makes this transaction the one publishing dispatcher's until it ends (another
        process's batch is short: waiting for it costs less than a missed wake)."""
        if self.db.dialect != "sqlite":  # on SQLite, write transactions never overlap
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})

    async def _in_order(self, session: AsyncSession, found: list[Event]) -> list[Event]:
        """The events that may be published now: those up to the first id that is missing
        and could still commit (see the module's docstring)."""
        newer = select(func.max(Event.id)).where(
            Event.id > self._high, Event.published_at.is_not(None)
        )
        self._high = max(self._high, await session.scalar(newer) or 0)
        ready: list[Event] = []
        for event in found:
            if self._high and event.id > self._high + 1 and not self._gap_expired(self._high + 1):
                break
            if event.id > self._high + 1 and self._high:
                log.warning("event ids %d-%d never committed; published past them",
                            self._high + 1, event.id - 1)  # fmt: skip
            ready.append(event)
            self._high = max(self._high, event.id)
        if len(ready) == len(found):
            self._gap = None
        return ready

    def _gap_expired(self, missing: int) -> bool:
        """Whether the missing id has been waited for long enough; starts the wait."""
        now = time.monotonic()
        if self._gap is None or self._gap[0] != missing:
            self._gap = (missing, now)
        if now - self._gap[1] < self.gap_wait:
            return False
        self._gap = None
        return True

    async def prune_once(self, now: datetime) -> int:
        """Delete published events older than the retention (a batch at a time, so the writer
        is never held for long); returns how many went."""
        cutoff = now - self.retention
        async with self.db.write(notify=False) as session:
            old = (
                select(Event.id)
                .where(Event.published_at.is_not(None), Event.published_at < cutoff)
                .order_by(Event.id)
                .limit(PRUNE_BATCH)
            )
            ids = list((await session.execute(old)).scalars())
            if ids:
                await session.execute(delete(Event).where(Event.id.in_(ids)))
        return len(ids)

    async def _handle(self, session: AsyncSession, event: Event) -> None:
        if event.type in UNHANDLED:
            return
        for handler in self.handlers:
            try:
                async with session.begin_nested():
                    await handler(session, event)
            except Exception:  # one handler's bug must not stop the others or the stream
                log.exception("handler %s failed on event %s", handler.__qualname__, event.id)
