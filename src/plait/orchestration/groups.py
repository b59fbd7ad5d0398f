"""Run groups: runs made together (a backfill's, a sweep's) that start at most
`max_parallel` at a time and whose group rolls its status up when they have all ended.

One rule for every kind of group. The scheduler asks `full` before it starts a run of a
group and calls `settle` when one ends; a group's row is locked before it is settled, so that
of two schedulers ending its last two runs at once, the second sees the first's (PostgreSQL;
SQLite has one writer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from plait.db.models import Backfill, Run, Sweep
from plait.errors import NotFound
from plait.events import outbox
from plait.orchestration.states import RUN_FINISHED, RunStatus

COUNTED = ("queued", "running", "succeeded", "failed", "cancelled")
GroupRow = Backfill | Sweep


@dataclass(frozen=True)
class Group:
    name: str  # its events are `<name>.created` / `<name>.finished`, its id `<name>_id`
    model: type[Backfill] | type[Sweep]
    column: InstrumentedAttribute[int | None]  # the runs' column naming their group


BACKFILL = Group("backfill", Backfill, Run.backfill_id)
SWEEP = Group("sweep", Sweep, Run.sweep_id)
GROUPS = (BACKFILL, SWEEP)
COLUMNS = tuple(group.column for group in GROUPS)  # a queued run's place in line


def of(run: Run) -> list[tuple[Group, int]]:
    """The groups a run belongs to, with their ids."""
    found = ((group, getattr(run, group.column.key)) for group in GROUPS)
    return [(group, group_id) for group, group_id in found if group_id is not None]


async def get(session: AsyncSession, group: Group, group_id: int, *, lock: bool = False) -> Any:
    query = select(group.model).where(group.model.id == group_id)
    found = (await session.execute(query.with_for_update() if lock else query)).scalar()
    if found is None:
        raise NotFound(f"no {group.name} {group_id}")
    return found


async def count_runs_of(
    session: AsyncSession, group: Group, ids: list[int]
) -> dict[int, dict[str, int]]:
    """The runs of each group by status, in one grouped query (a page of groups)."""
    rows = await session.execute(
        select(group.column, Run.status, func.count())
        .where(group.column.in_(ids))
        .group_by(group.column, Run.status)
    )
    counts = {i: dict.fromkeys(COUNTED, 0) for i in ids}
    for group_id, status, n in rows.all():
        if group_id is not None:  # always, by the WHERE; said for the type checker
            counts[group_id][status] = counts[group_id].get(status, 0) + n
    return counts


async def count_runs(session: AsyncSession, group: Group, group_id: int) -> dict[str, int]:
    return (await count_runs_of(session, group, [group_id]))[group_id]


async def full(session: AsyncSession, run: Run) -> bool:
    """Whether one of the run's groups runs `max_parallel` of its runs already (the caller
    holds the workflow's lock, so two schedulers cannot both take the last slot)."""
    for group, group_id in of(run):
        limit = await session.scalar(
            select(group.model.max_parallel).where(group.model.id == group_id)
        )
        running = await session.scalar(
            select(func.count()).where(group.column == group_id, Run.status == RunStatus.running)
        )
        if (running or 0) >= (limit or 1):
            return True
    return False


async def settle(session: AsyncSession, run: Run) -> None:
    """The run ended: each of its groups ends too when all its runs have."""
    for group, group_id in of(run):
        row = await get(session, group, group_id, lock=True)
        if row.status != "running":
            continue
        counts = await count_runs(session, group, group_id)
        if not counts["queued"] and not counts["running"]:
            finish(session, group, row, counts)


async def reopen(session: AsyncSession, run: Run) -> None:
    """The run runs again (a retry): a group that had ended goes on until it ends again."""
    for group, group_id in of(run):
        row = await get(session, group, group_id, lock=True)
        row.status, row.finished_at = "running", None


def finish(session: AsyncSession, group: Group, row: GroupRow, counts: dict[str, int]) -> None:
    """Its runs have ended: failed if one failed, else cancelled if one was, else succeeded."""
    status = "failed" if counts["failed"] else "cancelled" if counts["cancelled"] else "succeeded"
    row.status, row.finished_at = status, datetime.now(UTC)
    outbox.record(session, f"{group.name}.finished", workflow_id=row.workflow_id,
                  status=status, counts=counts, **{f"{group.name}_id": row.id})  # fmt: skip


async def unfinished_runs(session: AsyncSession, group: Group, group_id: int) -> list[Run]:
    """Its runs that have not ended, locked (to cancel them)."""
    query = select(Run).where(group.column == group_id, Run.status.not_in(RUN_FINISHED))
    return list((await session.execute(query.order_by(Run.id).with_for_update())).scalars())
