"""/api/v1/workflows/{ref}/stats and /api/v1/stats: figures over the last `days` calendar days
(UTC). How each one is computed: docs/stats.md and `plait.orchestration.stats`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from plait.api.deps import Ctx, Viewer
from plait.api.openapi import errors
from plait.api.workflows import Ref
from plait.orchestration import stats
from plait.workflows import store

router = APIRouter(tags=["stats"])

# The instance's figures read every run of the window (about 1.2 s for 30 days at a million
# runs): one computation per window serves every caller for this long, and callers that ask
# while it runs wait for it instead of starting their own. `until` says when it was computed.
INSTANCE_TTL_SECONDS = 30.0


@dataclass
class _Memo:
    """The instance figures last computed per `days`, with a lock each (single flight)."""

    answers: dict[int, tuple[float, Any]] = field(default_factory=dict)
    locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    async def get(self, days: int, compute: Any) -> Any:
        async with self.locks.setdefault(days, asyncio.Lock()):
            kept = self.answers.get(days)
            if kept is not None and time.monotonic() - kept[0] < INSTANCE_TTL_SECONDS:
                return kept[1]
            answer = await compute()
            self.answers[days] = (time.monotonic(), answer)
            return answer


Days = Annotated[
    int,
    Query(ge=1, le=365, description="Whole UTC days ending today (today counts as one)."),
]


class DurationPercentiles(BaseModel):
    p50: float | None = Field(description="Median seconds (null when nothing was timed).")
    p95: float | None = Field(description="95th percentile in seconds, interpolated.")


class RunFigures(BaseModel):
    total: int = Field(description="Runs created in the window.")
    by_status: dict[str, int] = Field(description="Those runs by their status now.")
    finished: int = Field(description="Of those, succeeded + failed + cancelled.")
    success_rate: float | None = Field(description="succeeded / finished; null if none.")
    duration: DurationPercentiles = Field(description="Of finished runs: finished_at - started_at.")


class RunsOnDay(BaseModel):
    date: str = Field(description="The UTC day, YYYY-MM-DD.")
    total: int
    by_status: dict[str, int]


class TaskFigures(BaseModel):
    task_key: str
    attempts: int = Field(description="Attempts of the task in the window's runs.")
    succeeded: int
    success_rate: float | None = Field(
        description="succeeded / attempts that ran to an end (succeeded, failed, up_for_retry)."
    )
    retries: int = Field(description="Attempts after the first (attempt number > 1).")
    duration: DurationPercentiles = Field(description="Of attempts that ran to an end.")


class ErrorGroup(BaseModel):
    error: str = Field(description="The error's first line, cut at 200 characters.")
    count: int = Field(description="Failed attempts (retried or not) with this error.")
    latest_run_id: int = Field(description="The newest run with an attempt that failed so.")


class StatsWindow(BaseModel):
    days: int
    since: datetime = Field(description="The window's start: midnight UTC, days - 1 ago.")
    until: datetime = Field(description="When the figures were computed.")


class WorkflowStats(StatsWindow):
    runs: RunFigures
    tasks: list[TaskFigures] = Field(description="By task key, in key order.")
    failures: list[ErrorGroup] = Field(description="The 10 most frequent errors, most first.")
    per_day: list[RunsOnDay] = Field(description="Each day of the window, oldest first.")


class ActiveNow(BaseModel):
    queued_runs: int
    running_runs: int
    queued_attempts: int
    running_attempts: int


class FailingWorkflow(BaseModel):
    workflow_id: int
    name: str
    failed: int = Field(description="Failed runs in the window.")
    runs: int = Field(description="All runs in the window.")
    success_rate: float | None


class InstanceStats(StatsWindow):
    runs: RunFigures
    active: ActiveNow = Field(description="Queued and running now, whenever created.")
    failing_workflows: list[FailingWorkflow] = Field(
        description="The 10 workflows with the most failed runs in the window."
    )
    per_day: list[RunsOnDay]


@router.get("/api/v1/workflows/{ref}/stats", response_model=WorkflowStats, responses=errors(404))
async def workflow_stats(ref: Ref, who: Viewer, ctx: Ctx, days: Days = 30) -> Any:
    """Runs, success rate, duration percentiles, per task figures, failures by error and
    runs per day, for the workflow's runs created in the window."""
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
        return await stats.workflow_stats(session, wf.id, stats.Window.ending(days))


@router.get("/api/v1/stats", response_model=InstanceStats)
async def instance_stats(request: Request, who: Viewer, ctx: Ctx, days: Days = 30) -> Any:
    """The whole instance: runs, success rate, duration percentiles, what is queued and
    running now, the workflows that fail most, and runs per day. Computed at most every 30
    seconds per window (`until` tells when)."""

    async def compute() -> Any:
        async with ctx.db.read() as session:
            return await stats.instance_stats(session, stats.Window.ending(days))

    state = request.app.state
    if not hasattr(state, "instance_stats"):
        state.instance_stats = _Memo()
    return await state.instance_stats.get(days, compute)
