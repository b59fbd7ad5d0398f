"""/api/v1/runs and /api/v1/workflows/{ref}/runs: start, list, inspect, cancel, retry, rerun."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import bounded
from plait.api.deps import Ctx, Editor, Viewer
from plait.api.inputs import IdPath, Instant, RefQuery
from plait.api.openapi import errors
from plait.api.schemas import Page
from plait.api.workflows import Ref
from plait.auth.roles import Principal
from plait.db import pagination
from plait.db.models import Run, TaskAttempt, User, Workflow
from plait.executors.reports import exit_signal
from plait.orchestration import runs
from plait.orchestration.states import AttemptStatus, RunStatus
from plait.tracking import store as tracking_store
from plait.workflows import store
from plait.workflows.spec import Text

router = APIRouter(tags=["runs"])
RunId = IdPath


class RunCreate(BaseModel):
    model_config = {"extra": "forbid"}

    params: dict[str, Any] = Field(default_factory=dict)
    description: Text = Field(default="", max_length=2000)


class RunOut(BaseModel):
    id: int
    workflow_id: int
    workflow: str
    workflow_version: int
    params: dict[str, Any]
    status: RunStatus
    trigger: str
    triggered_by: str | None
    description: str
    scheduled_for: datetime | None
    rerun_of: int | None
    upstream_run_id: int | None = Field(description="The run whose end started this one.")
    backfill_id: int | None = Field(description="The backfill that made it.")
    sweep_id: int | None = Field(description="The sweep that made it.")
    cancel_requested: bool
    pinned: bool = Field(description="Kept by retention however old (POST /runs/{id}/pin).")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None = Field(description="Seconds from start to end (or to now).")


class AttemptOut(BaseModel):
    id: int
    attempt: int
    status: AttemptStatus
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    exit_code: int | None
    exit_signal: str | None = Field(
        description='The signal that ended it ("SIGTERM"), from a negative or 128+N exit code.'
    )
    error: str | None
    outputs: dict[str, Any]
    pid: int | None
    worker: str | None = Field(description="host:pid of the process that ran it.")
    not_before: datetime | None
    progress: float | None = Field(description="The task's last plait.progress(), 0 to 1.")
    progress_message: str | None
    eta_seconds: float | None = Field(
        description="Seconds left at the pace so far, while it runs and 0 < progress < 1."
    )


class TaskState(BaseModel):
    key: str
    kind: str
    depends_on: list[str]
    status: AttemptStatus
    attempts: list[AttemptOut]


class TrackingState(BaseModel):
    adapter: str
    status: str = Field(description="pending, retrying (the last try failed) or synced.")
    error: str | None
    external_id: str | None = Field(description="The run on the other side (MLflow run id).")
    updated_at: datetime


class RunDetail(RunOut):
    tasks: list[TaskState]
    tracking: list[TrackingState] = Field(
        default_factory=list, description="Forwarding to each tracking adapter (MLflow, W&B)."
    )


def elapsed(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from `start` to `end` (or to now while it goes on); None before it starts."""
    if start is None:
        return None
    return round(((end or datetime.now(UTC)) - start).total_seconds(), 3)


def run_out(run: Run, workflow: str, user: str | None) -> dict[str, Any]:
    return {
        **{c: getattr(run, c) for c in RunOut.model_fields if hasattr(run, c)},
        "params": bounded.prune(run.params),  # stored before params were bounded, maybe
        "workflow": workflow,
        "triggered_by": user,
        "cancel_requested": run.cancel_requested_at is not None,
        "duration": elapsed(run.started_at, run.finished_at),
    }


async def _names(session: AsyncSession, run: Run) -> tuple[str, str | None]:
    wf = await session.get(Workflow, run.workflow_id)
    user = await session.get(User, run.triggered_by) if run.triggered_by else None
    return (wf.name if wf else "?"), (user.username if user else None)


def attempt_out(a: TaskAttempt) -> dict[str, Any]:
    return {
        **{c: getattr(a, c) for c in AttemptOut.model_fields if hasattr(a, c)},
        "outputs": bounded.prune(a.outputs),
        "duration": elapsed(a.started_at, a.finished_at),
        "exit_signal": exit_signal(a.exit_code),
        "eta_seconds": runs.eta_seconds(a),
    }


async def run_detail(session: AsyncSession, run: Run) -> dict[str, Any]:
    spec = await runs.version_spec(session, run)
    rows = await session.execute(
        select(TaskAttempt).where(TaskAttempt.run_id == run.id).order_by(TaskAttempt.attempt)
    )
    by_task: dict[str, list[TaskAttempt]] = {}
    for attempt in rows.scalars():
        by_task.setdefault(attempt.task_key, []).append(attempt)
    tasks = [
        {
            "key": t["key"],
            "kind": t["kind"],
            "depends_on": t.get("depends_on", []),
            "status": by_task[t["key"]][-1].status,
            "attempts": [attempt_out(a) for a in by_task[t["key"]]],
        }
        for t in spec["tasks"]
        if t["key"] in by_task
    ]  # fmt: skip
    tracking = await tracking_store.run_tracking(session, run.id)
    return {**run_out(run, *await _names(session, run)), "tasks": tasks, "tracking": tracking}


@router.post(
    "/api/v1/workflows/{ref}/runs",
    status_code=status.HTTP_201_CREATED,
    response_model=RunDetail,
    responses=errors(409),
)
async def start_run(
    ref: Ref,
    body: RunCreate,
    who: Editor,
    ctx: Ctx,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> Any:
    """Start a run with `params` (checked against the workflow's schema, defaults merged).
    The same `Idempotency-Key` again returns the run it started, with 200."""
    trigger = "api" if who.api_token_id is not None else "manual"
    try:
        async with ctx.db.write() as session:
            wf = await store.get(session, ref)
            workflow_id = wf.id  # kept: a rollback below expires `wf`
            existing = await _by_key(session, workflow_id, idempotency_key)
            if existing is None:
                run = await runs.create_run(session, wf, params=body.params, trigger=trigger,
                                            who=who, description=body.description,
                                            idempotency_key=idempotency_key)  # fmt: skip
            else:
                run, response.status_code = existing, status.HTTP_200_OK
        run_id = run.id
    except IntegrityError:  # the same key raced us; it won
        async with ctx.db.read() as session:
            found = await _by_key(session, workflow_id, idempotency_key)
        assert found is not None
        run_id, response.status_code = found.id, status.HTTP_200_OK
    ctx.wake(run_id)  # before building the answer: the first tasks start while we do
    response.headers["Location"] = f"/api/v1/runs/{run_id}"
    async with ctx.db.read() as session:
        return await run_detail(session, await runs.get_run(session, run_id))


async def _by_key(session: AsyncSession, workflow_id: int, key: str | None) -> Run | None:
    if key is None:
        return None
    query = select(Run).where(Run.workflow_id == workflow_id, Run.idempotency_key == key)
    return (await session.execute(query)).scalar()


RUN_SORT = pagination.SortKey(Run.created_at, Run.id, True, datetime)


@router.get("/api/v1/runs", response_model=Page[RunOut], responses=errors(404))
async def list_runs(
    who: Viewer,
    ctx: Ctx,
    workflow: RefQuery = None,
    status_: Annotated[RunStatus | None, Query(alias="status")] = None,
    trigger: Literal["manual", "api", "schedule", "webhook", "upstream", "backfill", "sweep"]
    | None = None,
    created_after: Instant | None = None,
    created_before: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    """Newest first."""
    query = (
        select(Run, Workflow.name, User.username)
        .select_from(Run)
        .join(Workflow, Workflow.id == Run.workflow_id)
        .outerjoin(User, User.id == Run.triggered_by)
    )
    async with ctx.db.read() as session:
        if workflow is not None:
            query = query.where(Run.workflow_id == (await store.get(session, workflow)).id)
        if status_ is not None:
            query = query.where(Run.status == status_)
        if trigger is not None:
            query = query.where(Run.trigger == trigger)
        if created_after is not None:
            query = query.where(Run.created_at >= created_after)
        if created_before is not None:
            query = query.where(Run.created_at < created_before)
        if cursor is not None:
            query = query.where(
                pagination.after(RUN_SORT, *pagination.decode_cursor(cursor, "-created", RUN_SORT))
            )
        rows = (await session.execute(pagination.order(query, RUN_SORT).limit(limit + 1))).all()
    items = [run_out(run, name, user) for run, name, user in rows[:limit]]
    more = len(rows) > limit
    last = rows[limit - 1][0] if more else None
    next_cursor = pagination.encode_cursor("-created", last.created_at, last.id) if last else None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/api/v1/runs/{run_id}", response_model=RunDetail)
async def get_run(run_id: RunId, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return await run_detail(session, await runs.get_run(session, run_id))


@router.post(
    "/api/v1/runs/{run_id}/cancel", status_code=202, response_model=RunDetail, responses=errors(409)
)
async def cancel_run(run_id: RunId, who: Editor, ctx: Ctx) -> Any:
    """Ask the run to stop: tasks not started are cancelled, running ones get SIGTERM (then
    SIGKILL after the grace period). The run ends `cancelled` once they are gone."""
    return await _change(ctx, who, run_id, runs.request_cancel)


@router.post("/api/v1/runs/{run_id}/retry", response_model=RunDetail, responses=errors(409))
async def retry_run(run_id: RunId, who: Editor, ctx: Ctx) -> Any:
    """Resume a failed or cancelled run: only its failed, upstream_failed and cancelled tasks
    run again; tasks that succeeded keep their outputs."""
    return await _change(ctx, who, run_id, runs.retry_run)


async def _change(ctx: Ctx, who: Principal, run_id: int, action: Any) -> Any:
    async with ctx.db.write() as session:
        run = await runs.get_run(session, run_id, lock=True)
        await action(session, run, who)
        detail = await run_detail(session, run)
    ctx.wake(run_id)
    return detail


@router.post("/api/v1/runs/{run_id}/pin", response_model=RunDetail)
async def pin_run(run_id: RunId, who: Editor, ctx: Ctx) -> Any:
    """Keep the run however old it gets: retention never removes a pinned run."""
    return await _change(ctx, who, run_id, runs.pin(True))


@router.delete("/api/v1/runs/{run_id}/pin", response_model=RunDetail)
async def unpin_run(run_id: RunId, who: Editor, ctx: Ctx) -> Any:
    """Let retention remove the run again once it is old enough."""
    return await _change(ctx, who, run_id, runs.pin(False))


@router.post(
    "/api/v1/runs/{run_id}/rerun",
    status_code=status.HTTP_201_CREATED,
    response_model=RunDetail,
    responses=errors(409),
)
async def rerun(run_id: RunId, who: Editor, ctx: Ctx, response: Response) -> Any:
    """A new run of the workflow's current version with the same params."""
    async with ctx.db.write() as session:
        old = await runs.get_run(session, run_id)
        wf = await store.get(session, str(old.workflow_id))
        run = await runs.create_run(session, wf, params=old.params, who=who, rerun_of=old.id,
                                    trigger="api" if who.api_token_id else "manual",
                                    description=old.description)  # fmt: skip
        detail = await run_detail(session, run)
    ctx.wake(detail["id"])
    response.headers["Location"] = f"/api/v1/runs/{detail['id']}"
    return detail
