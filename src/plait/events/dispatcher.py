"""The dispatcher: takes committed, unpublished events in id order, lets the handlers react
(notifications, chains) in one transaction with marking them published, then publishes them.

A crash between a commit and the publish leaves the events unpublished; the next dispatcher
to start picks them up, so nothing is dropped (handlers are idempotent: at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import Event
from plait.events.bus import Bus, Message
from plait.events.outbox import as_message

log = logging.getLogger("plait.dispatcher")
Handler = Callable[[AsyncSession, Event], Awaitable[None]]
BATCH = 500
COALESCE_SECONDS = 0.02
PRUNE_EVERY_SECONDS = 60.0
PRUNE_BATCH = 5000


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
                async with asyncio.timeout(1.0):  # also catches other processes' events
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
            query = select(Event).where(Event.published_at.is_(None)).order_by(Event.id)
            events = list((await session.execute(
                query.limit(BATCH).with_for_update(skip_locked=True)
            )).scalars())  # fmt: skip
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
            await self.bus.publish(messages)
        return len(messages)

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
        for handler in self.handlers:
            try:
                async with session.begin_nested():
                    await handler(session, event)
            except Exception:  # one handler's bug must not stop the others or the stream
                log.exception("handler %s failed on event %s", handler.__qualname__, event.id)
