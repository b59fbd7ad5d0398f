"""Starting, retrying, re-running and cancelling runs. The scheduler does the rest.

Functions add and flush; the caller owns the transaction and wakes the scheduler after it.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal
from plait.db.models import Run, TaskAttempt, Workflow, WorkflowVersion
from plait.errors import Conflict, NotFound
from plait.events import outbox
from plait.orchestration import groups
from plait.orchestration.params import resolve_params
from plait.orchestration.states import (
    RUN_FINISHED,
    AttemptStatus,
    RunStatus,
    transition,
)

TRIGGERS = ("manual", "api", "schedule", "webhook", "upstream", "backfill", "sweep")
RETRYABLE = frozenset(
    {AttemptStatus.failed, AttemptStatus.upstream_failed, AttemptStatus.cancelled}
)


async def create_run(
    session: AsyncSession,
    wf: Workflow,
    *,
    params: dict[str, Any],
    trigger: str,
    who: Principal | None = None,
    description: str = "",
    idempotency_key: str | None = None,
    scheduled_for: datetime | None = None,
    rerun_of: int | None = None,
    upstream_run_id: int | None = None,
) -> Run:
    """A queued run of the workflow's current version, one pending attempt per task."""
    run = Run(
        workflow_id=wf.id,
        workflow_version=wf.current_version,
        params=resolve_params(wf.spec["params"], params),
        status=RunStatus.queued,
        trigger=trigger,
        triggered_by=who.id if who else None,
        description=description,
        idempotency_key=idempotency_key,
        scheduled_for=scheduled_for,
        rerun_of=rerun_of,
        upstream_run_id=upstream_run_id,
    )
    session.add(run)
    await session.flush()
    session.add_all(
        TaskAttempt(run_id=run.id, task_key=t["key"], attempt=1, status=AttemptStatus.pending,
                    outputs={})
        for t in wf.spec["tasks"]
    )  # fmt: skip
    # Heard by every process's scheduler: a run made by an API replica, a chain or cron
    # starts at once wherever a scheduler runs, not on the next tick.
    outbox.record(session, "run.queued", workflow_id=wf.id, run_id=run.id, status="queued",
                  previous=None, trigger=trigger)  # fmt: skip
    chained = {"upstream_run_id": upstream_run_id} if upstream_run_id is not None else {}
    audit.record(session, who, "run.create", "run", run.id, workflow=wf.name, trigger=trigger,
                 version=wf.current_version, **chained)  # fmt: skip
    return run


async def get_run(session: AsyncSession, run_id: int, *, lock: bool = False) -> Run:
    query = select(Run).where(Run.id == run_id)
    run = (await session.execute(query.with_for_update() if lock else query)).scalar()
    if run is None:
        raise NotFound(f"no run {run_id}")
    return run


async def latest_attempts(session: AsyncSession, run_id: int) -> dict[str, TaskAttempt]:
    """Each task's newest attempt."""
    rows = (
        await session.execute(
            select(TaskAttempt).where(TaskAttempt.run_id == run_id).order_by(TaskAttempt.attempt)
        )
    ).scalars()
    return {a.task_key: a for a in rows}


async def version_hash(session: AsyncSession, run: Run) -> str:
    digest: str = await _version_column(session, run, WorkflowVersion.content_hash)
    return digest


async def version_spec(session: AsyncSession, run: Run) -> dict[str, Any]:
    return dict(await _version_column(session, run, WorkflowVersion.spec))


async def _version_column(session: AsyncSession, run: Run, column: Any) -> Any:
    """One column of the workflow version the run runs."""
    value = await session.scalar(
        select(column).where(
            WorkflowVersion.workflow_id == run.workflow_id,
            WorkflowVersion.version == run.workflow_version,
        )
    )
    if value is None:
        raise NotFound(f"run {run.id}: its workflow version is gone")
    return value


async def request_cancel(session: AsyncSession, run: Run, who: Principal) -> None:
    if run.status in RUN_FINISHED:
        raise Conflict(f"run {run.id} has finished ({run.status}); nothing to cancel")
    if run.cancel_requested_at is None:
        run.cancel_requested_at = datetime.now(UTC)
        audit.record(session, who, "run.cancel", "run", run.id)
        # Heard by every process's scheduler: the one whose executor runs its tasks stops them.
        outbox.record(session, "run.cancel_requested", workflow_id=run.workflow_id, run_id=run.id)


def pin(pinned: bool) -> Callable[[AsyncSession, Run, Principal], Awaitable[None]]:
    """Pin (retention keeps the run) or unpin it; audited when it changes anything."""

    async def change(session: AsyncSession, run: Run, who: Principal) -> None:
        if run.pinned != pinned:
            run.pinned = pinned
            audit.record(session, who, "run.pin" if pinned else "run.unpin", "run", run.id)

    return change


async def cancel_workflow_runs(
    session: AsyncSession, who: Principal, workflow_id: int
) -> list[int]:
    """Ask every unfinished run of the workflow to stop (before the workflow is deleted);
    returns those with a task still queued or running (a process may still exist)."""
    rows = await session.execute(
        select(Run).where(Run.workflow_id == workflow_id, Run.status.not_in(list(RUN_FINISHED)))
    )
    for run in rows.scalars():
        await request_cancel(session, run, who)
    active = (
        select(TaskAttempt.run_id)
        .join(Run, Run.id == TaskAttempt.run_id)
        .where(
            Run.workflow_id == workflow_id,
            TaskAttempt.status.in_([AttemptStatus.queued, AttemptStatus.running]),
        )
    )
    return sorted(set((await session.execute(active)).scalars()))


async def retry_run(session: AsyncSession, run: Run, who: Principal) -> list[str]:
    """Run again the tasks that failed, were cancelled or never ran for an upstream failure;
    tasks that succeeded keep their outputs. Returns the keys that will run again."""
    if run.status == RunStatus.succeeded:
        raise Conflict(
            f"run {run.id} succeeded: retry runs again only what failed or was cancelled; "
            f"to run it all again, rerun it: `plait runs rerun {run.id}` "
            f"(POST /api/v1/runs/{run.id}/rerun)"
        )
    if run.status not in (RunStatus.failed, RunStatus.cancelled):
        raise Conflict(f"run {run.id} is {run.status}; only failed or cancelled runs retry")
    again = [a for a in (await latest_attempts(session, run.id)).values() if a.status in RETRYABLE]
    session.add_all(
        TaskAttempt(run_id=run.id, task_key=a.task_key, attempt=a.attempt + 1,
                    status=AttemptStatus.pending, outputs={})
        for a in again
    )  # fmt: skip
    await transition(session, run, RunStatus.queued)
    await groups.reopen(session, run)  # its backfill or sweep goes on until it ends again
    keys = sorted(a.task_key for a in again)
    audit.record(session, who, "run.retry", "run", run.id, tasks=keys)
    return keys


async def active_run_count(session: AsyncSession, workflow_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(Run.workflow_id == workflow_id, Run.status == RunStatus.running)
    )
    return count or 0


def eta_seconds(attempt: TaskAttempt, now: datetime | None = None) -> float | None:
    """Seconds a running attempt has left, from its progress so far at the pace so far:
    elapsed * (1 - p) / p. None unless it runs and 0 < p < 1."""
    p, started = attempt.progress, attempt.started_at
    if attempt.status != AttemptStatus.running or started is None or p is None or not 0 < p < 1:
        return None
    elapsed = max(0.0, ((now or datetime.now(UTC)) - started).total_seconds())
    return round(elapsed * (1 - p) / p, 1)


def retry_delay(task: dict[str, Any], attempt: int) -> float:
    """Seconds before try `attempt + 1`: the task's delay, growing by its backoff factor after
    each try, with ±10 % jitter so that tasks failing together do not retry in lockstep."""
    base = float(task.get("retry_delay", 10.0)) * float(task.get("retry_backoff", 2.0)) ** (
        attempt - 1
    )
    return base * random.uniform(0.9, 1.1)
