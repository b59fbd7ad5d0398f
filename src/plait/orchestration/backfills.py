"""Backfills: one run per fire time of a workflow's schedule in a past range, as a group.

Fire times come from the very computation cron uses (`schedule.due_fire_times`, in the
workflow's timezone; croniter on aware datetimes handles DST: a time that does not exist is
moved past the gap, one that happens twice fires twice), and each run takes its fire time's
place in the unique key (workflow_id, scheduled_for) that cron's runs take too. So a fire
time that has a run (cron's, an earlier backfill's) is skipped, and a cron tick making the
same run at the same moment makes one of the two inserts fail: that one is skipped, in a
savepoint, like cron does.

The scheduler starts at most `max_parallel` runs of a backfill at once (besides the
workflow's own max_active_runs), and rolls its status up when its runs have ended: the rule
of every run group, in `plait.orchestration.groups`.
Functions add and flush; the caller owns the transaction and wakes the scheduler.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal
from plait.db.models import Backfill, Run, Workflow
from plait.errors import Conflict, FieldError, InvalidInput
from plait.events import outbox
from plait.orchestration import groups, runs
from plait.orchestration.params import resolve_params
from plait.orchestration.states import RunStatus
from plait.workflows.schedule import ONCE, due_fire_times

MAX_FIRE_TIMES = 1000  # runs one backfill may make
COUNT_LIMIT = 10_000  # fire times counted to say how many a refused range holds
YEARS = (1900, 2999)  # what a backfill's range may reach: cron's computation is sound there


def read_instant(field: str, text: str, tz: str, *, end: bool = False) -> datetime:
    """A date or an ISO 8601 date-time, in UTC. A date, or a date-time without an offset,
    is read in the workflow's timezone; an end date covers its whole day."""
    try:
        moment = _instant(text, ZoneInfo(tz), end)
    except ValueError:
        raise InvalidInput([FieldError((field,), _NOT_A_DATE, "date")]) from None
    except OverflowError:
        moment = datetime.min.replace(tzinfo=UTC)  # refused just below
    if not YEARS[0] <= moment.year <= YEARS[1]:
        why = f"is outside the years {YEARS[0]} to {YEARS[1]}"
        raise InvalidInput([FieldError((field,), why, "date")])
    return moment


def _instant(text: str, zone: ZoneInfo, end: bool) -> datetime:
    if len(text) == 10:
        day = date.fromisoformat(text)
        moment = datetime.combine(day + timedelta(days=1) if end else day, time(), zone)
        return (moment - timedelta(microseconds=1) if end else moment).astimezone(UTC)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


_NOT_A_DATE = "is not a date (2026-03-01) or an ISO 8601 date and time (2026-03-01T02:30)"


def fire_times(wf: Workflow, start: datetime, end: datetime) -> list[datetime]:
    """The schedule's fire times in [start, end], oldest first; InvalidInput when there is
    no recurring schedule, the range is backwards or holds more than MAX_FIRE_TIMES."""
    if not wf.schedule or wf.schedule == ONCE:
        why = (
            f"workflow {wf.name!r} has no recurring schedule, so there are no fire times to "
            "backfill; give it a cron `schedule` (e.g. '0 2 * * *'), or start runs by hand"
        )
        raise InvalidInput([FieldError(("schedule",), why, "no_schedule")], detail=why)
    if end < start:
        raise InvalidInput([FieldError(("end",), "is before start", "range")])
    found = due_fire_times(wf.schedule, wf.timezone, start, end, True, MAX_FIRE_TIMES + 1)
    if len(found) > MAX_FIRE_TIMES:
        count = len(due_fire_times(wf.schedule, wf.timezone, start, end, True, COUNT_LIMIT))
        holds = f"{count}" if count < COUNT_LIMIT else f"{COUNT_LIMIT} or more"
        why = (
            f"the range holds {holds} fire times of {wf.schedule!r}; a backfill makes at most "
            f"{MAX_FIRE_TIMES}: split the range"
        )
        raise InvalidInput([FieldError(("end",), why, "too_many")], detail=why)
    return found


async def create(
    session: AsyncSession, wf: Workflow, start: datetime, end: datetime, *,
    max_parallel: int, params: dict[str, Any], who: Principal,
) -> Backfill:  # fmt: skip
    """The backfill and a queued run for each of its fire times that has none yet."""
    times = fire_times(wf, start, end)
    resolve_params(wf.spec["params"], params)  # refused here, not once per run
    taken = set(
        (
            await session.execute(
                select(Run.scheduled_for).where(
                    Run.workflow_id == wf.id, Run.scheduled_for.in_(times)
                )
            )
        ).scalars()
    )
    backfill = Backfill(workflow_id=wf.id, start_at=start, end_at=end, max_parallel=max_parallel,
                        params=params, status="running", skipped=[], created_by=who.id)  # fmt: skip
    session.add(backfill)
    await session.flush()
    skipped = [when for when in times if when in taken]
    for when in (t for t in times if t not in taken):
        if not await _make_run(session, wf, backfill, when, who):
            skipped.append(when)
    backfill.skipped = [when.isoformat() for when in sorted(skipped)]
    audit.record(session, who, "backfill.create", "backfill", backfill.id, workflow=wf.name,
                 runs=len(times) - len(skipped), skipped=len(skipped))  # fmt: skip
    counts = await count_runs(session, backfill.id)
    outbox.record(session, "backfill.created", workflow_id=wf.id, backfill_id=backfill.id,
                  status=backfill.status, counts=counts)  # fmt: skip
    if not sum(counts.values()):  # every fire time had its run: nothing left to do
        groups.finish(session, groups.BACKFILL, backfill, counts)
    return backfill


async def _make_run(
    session: AsyncSession, wf: Workflow, backfill: Backfill, when: datetime, who: Principal
) -> bool:
    """The fire time's run, unless another (a cron tick, a backfill at the same moment)
    made it first."""
    try:
        async with session.begin_nested():
            run = await runs.create_run(session, wf, params=backfill.params, trigger="backfill",
                                        who=who, scheduled_for=when)  # fmt: skip
            run.backfill_id = backfill.id
            await session.flush()
    except IntegrityError:
        return False
    return True


async def get(session: AsyncSession, backfill_id: int, *, lock: bool = False) -> Backfill:
    found: Backfill = await groups.get(session, groups.BACKFILL, backfill_id, lock=lock)
    return found


async def count_runs(session: AsyncSession, backfill_id: int) -> dict[str, int]:
    """Its runs by status."""
    return await groups.count_runs(session, groups.BACKFILL, backfill_id)


async def cancel(session: AsyncSession, backfill: Backfill, who: Principal) -> list[int]:
    """Cancel its unfinished runs (those running stop, the rest never start); the backfill
    ends `cancelled` once they have. Returns the runs to wake."""
    unfinished = await groups.unfinished_runs(session, groups.BACKFILL, backfill.id)
    pending = [r for r in unfinished if not r.cancel_requested_at]
    if not pending:
        raise Conflict(f"backfill {backfill.id} has no unfinished runs; nothing to cancel")
    for run in pending:
        await runs.request_cancel(session, run, who)
    audit.record(session, who, "backfill.cancel", "backfill", backfill.id, runs=len(pending))
    return [r.id for r in pending]


async def retry(session: AsyncSession, backfill: Backfill, who: Principal) -> list[int]:
    """Retry its failed and cancelled runs (their failed tasks run again); the backfill runs
    again until they end. Returns the runs to wake."""
    query = select(Run).where(
        Run.backfill_id == backfill.id,
        Run.status.in_([RunStatus.failed, RunStatus.cancelled]),
    )
    again = list((await session.execute(query.order_by(Run.id).with_for_update())).scalars())
    if not again:
        raise Conflict(
            f"backfill {backfill.id} has no failed or cancelled runs to retry",
            code="nothing-to-retry",
        )
    for run in again:
        await runs.retry_run(session, run, who)  # the backfill runs again with them
    audit.record(session, who, "backfill.retry", "backfill", backfill.id, runs=len(again))
    return [r.id for r in again]
