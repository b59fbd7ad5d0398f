"""Cron: runs for due schedules, exactly one per fire time.

Two schedulers may find the same fire time due at once; the unique key on
(workflow_id, scheduled_for) lets exactly one insert succeed, and the other skips it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import Workflow
from plait.errors import InvalidInput
from plait.orchestration.runs import create_run
from plait.workflows.schedule import ONCE, due_fire_times, first_fire_after

log = logging.getLogger("plait.cron")


async def fire_due(session: AsyncSession, now: datetime, limit: int = 100) -> list[int]:
    """Create the runs owed by schedules due at `now`; returns their ids."""
    due = (
        await session.execute(
            select(Workflow)
            .where(Workflow.paused.is_(False), Workflow.next_fire_at <= now)
            .order_by(Workflow.next_fire_at)
            .limit(limit)
        )
    ).scalars()
    created: list[int] = []
    for wf in list(due):
        created += await _fire(session, wf, now)
    return created


async def _fire(session: AsyncSession, wf: Workflow, now: datetime) -> list[int]:
    since = wf.next_fire_at
    assert since is not None and wf.schedule
    created = []
    for when in due_fire_times(wf.schedule, wf.timezone, since, now, wf.spec.get("catchup", False)):
        try:
            async with session.begin_nested():
                run = await create_run(session, wf, params={}, trigger="schedule",
                                       scheduled_for=when)  # fmt: skip
            created.append(run.id)
        except IntegrityError:
            continue  # another scheduler made this fire time's run
        except InvalidInput as exc:
            log.warning("workflow %s cannot run on schedule: %s", wf.name, exc.errors)
            break
    following = None if wf.schedule == ONCE else first_fire_after(wf.schedule, wf.timezone, now)
    await session.execute(
        update(Workflow)
        .where(Workflow.id == wf.id, Workflow.next_fire_at == since)
        .values(next_fire_at=following)
        .execution_options(synchronize_session=False)
    )
    return created
