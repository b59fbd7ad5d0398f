"""/api/v1/workflows/{ref}/backfills and /api/v1/backfills/{id}: runs for the past fire
times of a schedule, as a group with progress, cancel and retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.api.deps import Context, Ctx, Editor, Viewer
from plait.api.inputs import IdPath
from plait.api.openapi import errors
from plait.api.schemas import Page
from plait.api.workflows import Ref
from plait.auth.roles import Principal
from plait.db import pagination
from plait.db.models import Backfill, Run, User, Workflow
from plait.orchestration import backfills, groups
from plait.workflows import store

router = APIRouter(tags=["backfills"])
BackfillId = IdPath
When = Annotated[
    str,
    Field(
        min_length=10,
        max_length=40,
        description="A date (2026-03-01) or an ISO 8601 date and time; without an offset it is "
        "read in the workflow's timezone. Both ends are included (an end date: all its day).",
    ),
]


class BackfillCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: When
    end: When
    max_parallel: int = Field(default=1, ge=1, le=32, description="Its runs running at once.")
    params: dict[str, Any] = Field(default_factory=dict, description="For each of its runs.")


class Counts(BaseModel):
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class BackfillRun(BaseModel):
    id: int
    scheduled_for: datetime
    status: str


class BackfillSummary(BaseModel):
    id: int
    workflow: str
    workflow_id: int
    start: datetime
    end: datetime
    timezone: str
    max_parallel: int
    params: dict[str, Any]
    status: str = Field(description="running, succeeded, failed or cancelled.")
    total: int = Field(description="Runs it made (fire times that had a run are `skipped`).")
    counts: Counts
    skipped: list[datetime] = Field(description="Fire times that had a run already.")
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None


class BackfillOut(BackfillSummary):
    runs: list[BackfillRun] = Field(description="Its runs, by fire time.")


async def _summary(
    session: AsyncSession, backfill: Backfill, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    # The workflow and the user are in the session's identity map after the first of a page.
    wf = await session.get(Workflow, backfill.workflow_id)
    user = await session.get(User, backfill.created_by) if backfill.created_by else None
    if counts is None:
        counts = await backfills.count_runs(session, backfill.id)
    return {
        "id": backfill.id,
        "workflow": wf.name if wf else "?",
        "workflow_id": backfill.workflow_id,
        "start": backfill.start_at,
        "end": backfill.end_at,
        "timezone": wf.timezone if wf else "UTC",
        "max_parallel": backfill.max_parallel,
        "params": backfill.params,
        "status": backfill.status,
        "total": sum(counts.values()),
        "counts": counts,
        "skipped": backfill.skipped,
        "created_by": user.username if user else None,
        "created_at": backfill.created_at,
        "finished_at": backfill.finished_at,
    }


async def _detail(session: AsyncSession, backfill: Backfill) -> dict[str, Any]:
    rows = await session.execute(
        select(Run.id, Run.scheduled_for, Run.status)
        .where(Run.backfill_id == backfill.id)
        .order_by(Run.scheduled_for, Run.id)
    )
    made = [{"id": i, "scheduled_for": when, "status": s} for i, when, s in rows.all()]
    return {**await _summary(session, backfill), "runs": made}


@router.post(
    "/api/v1/workflows/{ref}/backfills",
    status_code=status.HTTP_201_CREATED,
    response_model=BackfillOut,
    responses=errors(422),
)
async def create_backfill(
    ref: Ref, body: BackfillCreate, who: Editor, ctx: Ctx, response: Response
) -> Any:
    """One run for each fire time of the workflow's schedule from `start` to `end`, at most
    `max_parallel` running at once. Fire times that have a run already (cron's or an
    earlier backfill's) are not run again: they are listed in `skipped`. 422 when the
    workflow has no recurring schedule, `end` is before `start` or the range holds more than
    1000 fire times."""
    async with ctx.db.write() as session:
        wf = await store.get(session, ref)
        start = backfills.read_instant("start", body.start, wf.timezone)
        end = backfills.read_instant("end", body.end, wf.timezone, end=True)
        made = await backfills.create(session, wf, start, end, max_parallel=body.max_parallel,
                                      params=body.params, who=who)  # fmt: skip
        detail = await _detail(session, made)
    for run in detail["runs"][: body.max_parallel]:  # the others wait for these to end
        ctx.wake(run["id"])
    response.headers["Location"] = f"/api/v1/backfills/{detail['id']}"
    return detail


BACKFILL_SORT = pagination.SortKey(Backfill.created_at, Backfill.id, True, datetime)


@router.get(
    "/api/v1/workflows/{ref}/backfills",
    response_model=Page[BackfillSummary],
    responses=errors(404),
)
async def list_backfills(
    ref: Ref,
    who: Viewer,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    """The workflow's backfills, newest first (without their runs)."""
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
        query = select(Backfill).where(Backfill.workflow_id == wf.id)
        if cursor is not None:
            where = pagination.decode_cursor(cursor, "-created", BACKFILL_SORT)
            query = query.where(pagination.after(BACKFILL_SORT, *where))
        query = pagination.order(query, BACKFILL_SORT).limit(limit + 1)
        rows = list((await session.execute(query)).scalars())
        ids = [b.id for b in rows[:limit]]
        counts = await groups.count_runs_of(session, groups.BACKFILL, ids)
        items = [await _summary(session, b, counts[b.id]) for b in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = pagination.encode_cursor("-created", last.created_at, last.id) if last else None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/api/v1/backfills/{backfill_id}", response_model=BackfillOut, responses=errors(404))
async def get_backfill(backfill_id: BackfillId, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return await _detail(session, await backfills.get(session, backfill_id))


@router.post(
    "/api/v1/backfills/{backfill_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BackfillOut,
    responses=errors(404, 409),
)
async def cancel_backfill(backfill_id: BackfillId, who: Editor, ctx: Ctx) -> Any:
    """Cancel its unfinished runs: those not started never start, running ones stop. It ends
    `cancelled` once they have (or `failed`, if one of its runs had failed)."""
    return await _change(ctx, who, backfill_id, backfills.cancel)


@router.post(
    "/api/v1/backfills/{backfill_id}/retry",
    response_model=BackfillOut,
    responses=errors(404, 409),
)
async def retry_backfill(backfill_id: BackfillId, who: Editor, ctx: Ctx) -> Any:
    """Retry its failed and cancelled runs (in each, only the tasks that did not succeed run
    again). 409 when it has none."""
    return await _change(ctx, who, backfill_id, backfills.retry)


async def _change(ctx: Context, who: Principal, backfill_id: int, action: Any) -> Any:
    """Apply `action` (it returns the runs it changed), then wake those runs."""
    async with ctx.db.write() as session:
        backfill = await backfills.get(session, backfill_id)
        woken = await action(session, backfill, who)
        detail = await _detail(session, backfill)
    for run_id in woken:
        ctx.wake(run_id)
    return detail
