"""Runs and attempts by status, and attempts' durations: counted where statuses are written
(`orchestration.states.transition`, and here when a run or attempt is created), once the
transaction commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import object_session

from plait.db.models import Run, TaskAttempt
from plait.monitoring import instruments
from plait.monitoring.commits import on_commit


def transitioned(session: Any, row: Run | TaskAttempt, new: str) -> None:
    """`row` has just moved to `new` (its fields already hold the new values)."""
    if isinstance(row, Run):
        on_commit(session, instruments.runs.labels(new).inc)
        return
    on_commit(session, instruments.attempts.labels(new).inc)
    ran = _ran(row.started_at, row.finished_at)
    if ran is not None:
        observe = instruments.attempt_duration.labels(new).observe
        on_commit(session, lambda: observe(ran))


def _ran(started: datetime | None, finished: datetime | None) -> float | None:
    if started is None or finished is None:
        return None  # not finished, or never started (cancelled while queued, upstream failed)
    return max(0.0, (finished - started).total_seconds())


@event.listens_for(Run, "after_insert")
@event.listens_for(TaskAttempt, "after_insert")
def _created(_mapper: Any, _conn: Any, row: Run | TaskAttempt) -> None:
    """A run enters `queued`, an attempt `pending` (or what it was created as), by insert."""
    session = object_session(row)
    counter = instruments.runs if isinstance(row, Run) else instruments.attempts
    if session is not None:
        on_commit(session, counter.labels(row.status).inc)
