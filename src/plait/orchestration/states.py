"""The state machines of runs and task attempts: one table each, one function that moves them.

`transition` is the only code that sets a status. It checks the table, then writes with a
compare-and-set (`WHERE status = <old>`), so two schedulers can never both move one row: the
loser gets `StaleState` and leaves the row alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from plait.db.models import Run, TaskAttempt
from plait.errors import Conflict
from plait.events import outbox
from plait.monitoring import states as monitoring


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class AttemptStatus(StrEnum):
    pending = "pending"
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    up_for_retry = "up_for_retry"
    upstream_failed = "upstream_failed"
    skipped = "skipped"
    cancelled = "cancelled"


R, A = RunStatus, AttemptStatus

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    R.queued: frozenset({R.running, R.cancelled}),
    R.running: frozenset({R.succeeded, R.failed, R.cancelled}),
    R.succeeded: frozenset(),
    R.failed: frozenset({R.queued}),  # retry from failure
    R.cancelled: frozenset({R.queued}),  # retry after a cancel
}

ATTEMPT_TRANSITIONS: dict[AttemptStatus, frozenset[AttemptStatus]] = {
    A.pending: frozenset({A.queued, A.upstream_failed, A.skipped, A.cancelled}),
    # queued -> failed/up_for_retry: lost before it started (a server died, dispatch failed)
    A.queued: frozenset({A.running, A.cancelled, A.failed, A.up_for_retry}),
    A.running: frozenset({A.succeeded, A.failed, A.up_for_retry, A.cancelled}),
    A.succeeded: frozenset(),
    A.failed: frozenset(),
    A.up_for_retry: frozenset(),
    A.upstream_failed: frozenset(),
    A.skipped: frozenset(),
    A.cancelled: frozenset(),
}

RUN_FINISHED = frozenset({R.succeeded, R.failed, R.cancelled})
# Asked for with IN, not NOT IN RUN_FINISHED: an index on status serves IN (the few active
# runs); NOT IN reads every finished run of the history.
RUN_UNFINISHED = frozenset(R) - RUN_FINISHED
ATTEMPT_FINISHED = frozenset(s for s, nxt in ATTEMPT_TRANSITIONS.items() if not nxt)
# A task whose latest attempt ended so will not succeed in this run: downstream cannot start.
ATTEMPT_BLOCKING = frozenset({A.failed, A.upstream_failed, A.cancelled, A.skipped})


class InvalidTransition(Conflict):
    """A status change the table does not allow: a bug, or a request that came too late."""


class StaleState(Exception):
    """The row was moved by someone else between our read and our write."""


async def transition(
    session: AsyncSession, row: Run | TaskAttempt, new: str, **fields: Any
) -> None:
    """Move `row` to `new`, setting `fields` with it; stamps start and end times."""
    model = type(row)
    old = row.status
    if not allowed(row, new):
        raise InvalidTransition(f"{model.__name__} {row.id} cannot go from {old} to {new}")
    values = {**_stamps(row, new), **fields, "status": str(new)}
    result = await session.execute(
        update(model)
        .where(model.id == row.id, model.status == old)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleState(f"{model.__name__} {row.id} is no longer {old}")
    for key, value in values.items():
        set_committed_value(row, key, value)
    monitoring.transitioned(session, row, new)  # counted once the transaction commits
    await _record(session, row, old, new)


async def _record(session: AsyncSession, row: Run | TaskAttempt, old: str, new: str) -> None:
    """The event of a status change, in the change's transaction (the outbox)."""
    if isinstance(row, Run):
        outbox.record(session, f"run.{new}", workflow_id=row.workflow_id, run_id=row.id,
                      status=new, previous=old)  # fmt: skip
        return
    run = await session.get(Run, row.run_id)  # in the session already, as a rule
    kind = "retrying" if new == AttemptStatus.up_for_retry else new
    outbox.record(session, f"task.{kind}", workflow_id=run.workflow_id if run else None,
                  run_id=row.run_id, status=new, previous=old, task_key=row.task_key,
                  attempt=row.attempt, error=row.error)  # fmt: skip


def allowed(row: Run | TaskAttempt, new: str) -> bool:
    if isinstance(row, Run):
        return RunStatus(new) in RUN_TRANSITIONS[RunStatus(row.status)]
    return AttemptStatus(new) in ATTEMPT_TRANSITIONS[AttemptStatus(row.status)]


def _stamps(row: Run | TaskAttempt, new: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    if new in (R.running,) and isinstance(row, Run) and row.started_at is None:
        return {"started_at": now}
    if new == A.queued and isinstance(row, TaskAttempt):
        return {"queued_at": now}
    if new == A.running and isinstance(row, TaskAttempt):
        return {"started_at": now, "heartbeat_at": now}
    if new == R.queued and isinstance(row, Run):
        return {"finished_at": None, "cancel_requested_at": None}
    if new in RUN_FINISHED or new in ATTEMPT_FINISHED:
        return {"finished_at": now}
    return {}
