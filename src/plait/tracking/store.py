"""The `tracking_exports` rows: the outbox handler that makes them due, and what GET
/runs/{id} shows of them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import Event, TrackingExport
from plait.orchestration.states import RunStatus
from plait.settings import Settings

log = logging.getLogger("plait.tracking")
PENDING, RETRYING, SYNCED = "pending", "retrying", "synced"
DUE = (PENDING, RETRYING)
RUN_EVENTS = frozenset(f"run.{status.value}" for status in RunStatus)


def handler(settings: Settings) -> Callable[[AsyncSession, Event], Awaitable[None]]:
    """The outbox handler: on every change of a run's status, its row for each configured
    adapter is made (the first time) or made due now, in the event's own transaction."""
    adapters = settings.tracking_adapters

    async def on_event(session: AsyncSession, event: Event) -> None:
        if not adapters or event.type not in RUN_EVENTS or event.run_id is None:
            return
        for adapter in adapters:
            await _due_now(session, event.run_id, adapter)

    return on_event


async def _due_now(session: AsyncSession, run_id: int, adapter: str) -> None:
    now = datetime.now(UTC)
    # attempts + 1: a forward in flight (which saw the run before this change) must not
    # then mark the row as done or put it off; its cursor still counts.
    bumped = await session.execute(
        update(TrackingExport)
        .where(TrackingExport.run_id == run_id, TrackingExport.adapter == adapter)
        .values(
            status=PENDING, next_attempt_at=now, attempts=TrackingExport.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if bumped.rowcount:  # type: ignore[attr-defined]
        return
    row = TrackingExport(
        run_id=run_id, adapter=adapter, status=PENDING, cursor={}, attempts=0, failures=0,
        next_attempt_at=now, created_at=now, updated_at=now,
    )  # fmt: skip
    try:
        async with session.begin_nested():  # a duplicate undoes this insert only
            session.add(row)
            await session.flush()
    except IntegrityError:
        log.debug("tracking row of run %s for %s exists already", run_id, adapter)


async def run_tracking(session: AsyncSession, run_id: int) -> list[dict[str, Any]]:
    """The run's forwarding, one entry per adapter, for GET /runs/{id}."""
    rows = await session.execute(
        select(TrackingExport)
        .where(TrackingExport.run_id == run_id)
        .order_by(TrackingExport.adapter)
    )
    return [
        {
            "adapter": r.adapter,
            "status": r.status,
            "error": r.error,
            "external_id": r.external_id,
            "updated_at": r.updated_at,
        }
        for r in rows.scalars()
    ]
