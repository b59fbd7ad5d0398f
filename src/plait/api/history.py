"""Run history at a glance: the grid of runs x tasks (and the durations its trends chart),
the final metrics of several runs, and the fire times a backfill of a range would run. Each
answer is a few indexed queries, whatever the number of runs and tasks in it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.api import inputs
from plait.api.deps import Ctx, Viewer
from plait.api.runs import elapsed
from plait.api.workflows import Ref
from plait.db.models import Metric, Run, TaskAttempt
from plait.orchestration import backfills
from plait.orchestration.states import AttemptStatus, RunStatus
from plait.workflows import store

router = APIRouter(tags=["history"])
MAX_IDS = 100


class Cell(BaseModel):
    status: AttemptStatus = Field(description="The status of the task's latest attempt.")
    attempts: int = Field(description="How many attempts the task has had in this run.")
    duration: float | None = Field(description="Seconds the latest attempt ran (or runs).")


class GridRun(BaseModel):
    id: int
    status: RunStatus
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    trigger: str
    scheduled_for: datetime | None
    cells: dict[str, Cell] = Field(description="By task key, for the workflow's current tasks.")


class Grid(BaseModel):
    tasks: list[str] = Field(description="The workflow's current task keys (the rows).")
    runs: list[GridRun] = Field(description="The newest runs, oldest first (the columns).")


class FireTimes(BaseModel):
    count: int = Field(description="Fire times of the schedule in the range.")
    existing: int = Field(description="Of those, the ones that have a run (a backfill skips them).")
    first: datetime | None
    last: datetime | None
    timezone: str


class FinalMetrics(BaseModel):
    runs: dict[str, dict[str, float]] = Field(
        description="By run id: each metric key's last logged value. Runs that do not exist "
        "are left out; a run that logged nothing maps to {}."
    )


@router.get("/api/v1/workflows/{ref}/grid", response_model=Grid)
async def grid(
    ref: Ref, who: Viewer, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=100)] = 25
) -> Any:
    """The newest `limit` runs of the workflow x its current tasks: each cell is the task's
    latest attempt in that run. The runs come oldest first, as the grid shows them."""
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
        keys = [t["key"] for t in wf.spec["tasks"]]
        query = select(Run).where(Run.workflow_id == wf.id).order_by(Run.id.desc()).limit(limit)
        newest = list((await session.execute(query)).scalars())
        cells = await _cells(session, [r.id for r in newest], set(keys))
    return {"tasks": keys, "runs": [_column(run, cells.get(run.id, {})) for run in newest[::-1]]}


async def _cells(
    session: AsyncSession, run_ids: list[int], keys: set[str]
) -> dict[int, dict[str, Any]]:
    """One query for the attempts of all the runs; the columns a cell needs, not the outputs."""
    if not run_ids:
        return {}
    query = (
        select(TaskAttempt.run_id, TaskAttempt.task_key, TaskAttempt.attempt,
               TaskAttempt.status, TaskAttempt.started_at, TaskAttempt.finished_at)
        .where(TaskAttempt.run_id.in_(run_ids))
        .order_by(TaskAttempt.attempt)
    )  # fmt: skip
    out: dict[int, dict[str, Any]] = {}
    for run_id, key, number, status, started, finished in await session.execute(query):
        if key in keys:  # ordered by attempt: the latest one is written last
            cell = {"status": status, "attempts": number, "duration": elapsed(started, finished)}
            out.setdefault(run_id, {})[key] = cell
    return out


def _column(run: Run, cells: dict[str, Any]) -> dict[str, Any]:
    fields = ("id", "status", "created_at", "started_at", "finished_at", "trigger")
    return {
        **{name: getattr(run, name) for name in fields},
        "scheduled_for": run.scheduled_for,
        "duration": elapsed(run.started_at, run.finished_at),
        "cells": cells,
    }


@router.get("/api/v1/runs/final-metrics", response_model=FinalMetrics)
async def final_metrics(
    who: Viewer,
    ctx: Ctx,
    ids_: Annotated[
        str,
        Query(
            alias="ids",
            max_length=1200,
            description=f"Run ids, comma separated (at most {MAX_IDS}).",
        ),
    ],
) -> Any:
    """The last value each run logged for each metric key (by the order they were logged),
    for a table of runs side by side."""
    run_ids = sorted(inputs.run_ids(ids_, at_most=MAX_IDS))
    async with ctx.db.read() as session:
        found = (await session.execute(select(Run.id).where(Run.id.in_(run_ids)))).scalars()
        final = await final_metrics_of(session, run_ids)
    return {"runs": {str(run_id): final.get(run_id, {}) for run_id in found}}


async def final_metrics_of(
    session: AsyncSession, run_ids: list[int]
) -> dict[int, dict[str, float]]:
    """Each run's last logged value of each metric key (by the order they were logged); a
    run that logged nothing is left out."""
    latest = (
        select(func.max(Metric.id))
        .where(Metric.run_id.in_(run_ids))
        .group_by(Metric.run_id, Metric.key)
    )
    query = select(Metric.run_id, Metric.key, Metric.value).where(Metric.id.in_(latest))
    out: dict[int, dict[str, float]] = {}
    for run_id, key, value in await session.execute(query):
        out.setdefault(run_id, {})[key] = value
    return out


When = Annotated[str, Query(min_length=10, max_length=40, description="A date or an ISO 8601 "
                            "date and time, read as a backfill reads it.")]  # fmt: skip


@router.get("/api/v1/workflows/{ref}/fire-times", response_model=FireTimes)
async def fire_times(ref: Ref, start: When, end: When, who: Viewer, ctx: Ctx) -> Any:
    """What a backfill of `start`..`end` would make, before making it: the schedule's fire
    times in the range (both ends included; a date, or a date-time without an offset, in the
    workflow's timezone) and how many of them have a run already. The same 422s as the
    backfill: no recurring schedule, `end` before `start`, more than 1000 fire times."""
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
        since = backfills.read_instant("start", start, wf.timezone)
        until = backfills.read_instant("end", end, wf.timezone, end=True)
        times = backfills.fire_times(wf, since, until)
        taken = await session.scalar(
            select(func.count()).select_from(Run)
            .where(Run.workflow_id == wf.id, Run.scheduled_for.in_(times))
        ) if times else 0  # fmt: skip
    return {"count": len(times), "existing": taken or 0, "first": times[0] if times else None,
            "last": times[-1] if times else None, "timezone": wf.timezone}  # fmt: skip
