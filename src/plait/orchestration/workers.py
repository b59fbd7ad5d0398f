"""Remote workers as their heartbeats describe them, and what a heartbeat tells them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import Run, TaskAttempt, Worker
from plait.orchestration.states import AttemptStatus

A = AttemptStatus
LIVE_HEARTBEATS = 3  # a worker unseen for this many heartbeat periods is not listed as live


@dataclass(frozen=True)
class Beat:
    """One worker heartbeat: who, what it listens to, what it runs now."""

    worker: str
    queues: list[str]
    concurrency: int
    running: list[int]

    @property
    def hostname(self) -> str:
        host, sep, pid = self.worker.rpartition(":")
        return host if sep and pid.isdigit() else self.worker


async def record(session: AsyncSession, token_id: int, beat: Beat) -> list[int]:
    """Note the worker as seen, refresh the heartbeat of the attempts it runs for this token,
    and return those of its attempts it must stop (sorted)."""
    now = datetime.now(UTC)
    await _upsert(session, beat, now)
    mine = (
        (TaskAttempt.id.in_(beat.running))
        & (TaskAttempt.worker_token_id == token_id)
        & (TaskAttempt.status == A.running)
    )
    if beat.running:
        await session.execute(
            update(TaskAttempt)
            .where(mine)
            .values(heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
    return await to_cancel(session, token_id, beat.running)


async def _upsert(session: AsyncSession, beat: Beat, now: datetime) -> None:
    # FOR UPDATE: two heartbeats of one worker must not both insert (the name is unique).
    query = select(Worker).where(Worker.name == beat.worker).with_for_update()
    row = (await session.execute(query)).scalar()
    if row is None:
        row = Worker(name=beat.worker, started_at=now)
        session.add(row)
    row.hostname = beat.hostname[:200]
    row.queues = list(beat.queues)
    row.concurrency = beat.concurrency
    row.running = sorted(set(beat.running))
    row.last_seen = now


async def to_cancel(session: AsyncSession, token_id: int, attempt_ids: list[int]) -> list[int]:
    """Of the attempts a worker says it runs, those it must stop: their run is being
    cancelled, they are no longer running (finished, lost, failed by a timeout), or they
    were never this token's. One still `queued` is being claimed: left alone."""
    if not attempt_ids:
        return []
    rows = await session.execute(
        select(TaskAttempt.id, TaskAttempt.status, TaskAttempt.worker_token_id,
               Run.cancel_requested_at)
        .join(Run, Run.id == TaskAttempt.run_id)
        .where(TaskAttempt.id.in_(attempt_ids))
    )  # fmt: skip
    known: dict[int, bool] = {}
    for attempt_id, status, owner, cancel_requested in rows:
        if status == A.queued:
            known[attempt_id] = cancel_requested is not None
        else:
            stale = status != A.running or owner != token_id
            known[attempt_id] = stale or cancel_requested is not None
    # An id the database does not know (a deleted run) is stopped too.
    return sorted(i for i in set(attempt_ids) if known.get(i, True))


async def live(session: AsyncSession, heartbeat_seconds: float) -> list[Worker]:
    since = datetime.now(UTC) - timedelta(seconds=LIVE_HEARTBEATS * heartbeat_seconds)
    query = select(Worker).where(Worker.last_seen >= since).order_by(Worker.name)
    return list((await session.execute(query)).scalars())
