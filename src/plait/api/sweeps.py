"""/api/v1/workflows/{ref}/sweeps and /api/v1/sweeps/{id}: one run per combination of
params (a grid or a seeded random search), the table of their params and final metrics, the
best run, and cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.api.deps import Ctx, Editor, Viewer
from plait.api.history import final_metrics_of
from plait.api.inputs import IdPath
from plait.api.openapi import errors
from plait.api.runs import elapsed
from plait.api.schemas import Page
from plait.api.workflows import Ref
from plait.auth.roles import Principal
from plait.db import pagination
from plait.db.models import Run, Sweep, User, Workflow
from plait.orchestration import groups, sweeps
from plait.workflows import store

router = APIRouter(tags=["sweeps"])
SweepId = IdPath
Direction = Literal["max", "min"]
ParamName = Annotated[str, Field(min_length=1, max_length=200)]
Values = Annotated[list[Any], Field(min_length=1, max_length=1000)]
MetricKey = Annotated[str, Field(min_length=1, max_length=200)]


class RandomSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = Field(ge=1, le=1_000_000, description="Combinations to draw.")
    seed: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="The same seed draws the same; one is "
        "chosen (and stored) when none is given.",
    )  # fmt: skip
    space: dict[ParamName, dict[str, Any]] = Field(
        min_length=1, max_length=50,
        description='Per param one distribution: {"uniform": [low, high]}, {"log_uniform": '
        '[low, high]}, {"int": [low, high]} (both ends included) or {"choice": [values]}.',
    )  # fmt: skip


class SweepCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid: dict[ParamName, Values] | None = Field(
        default=None, min_length=1, max_length=50,
        description="Per param its values: every combination runs (the cartesian product).",
    )  # fmt: skip
    random: RandomSearch | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="For every run, under "
                                   "the swept ones.")  # fmt: skip
    max_parallel: int = Field(default=1, ge=1, le=32, description="Its runs running at once.")
    max_runs: int | None = Field(default=None, ge=1, le=10_000, description="Run at most "
                                 "this many of the combinations (the first ones).")  # fmt: skip
    metric: MetricKey | None = Field(default=None, description="The metric that ranks runs.")
    direction: Direction = Field(default="max", description="Whether more of it is better.")

    @model_validator(mode="after")
    def _one_kind(self) -> SweepCreate:
        if (self.grid is None) == (self.random is None):
            raise ValueError("give either grid or random (one of them)")
        return self


class Counts(BaseModel):
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class SweepRow(BaseModel):
    run_id: int
    status: str
    swept: dict[str, Any] = Field(description="The swept params' values in this run.")
    params: dict[str, Any] = Field(description="All the run's params.")
    duration: float | None
    metrics: dict[str, float] = Field(description="The last value logged for each key.")


class SweepSummary(BaseModel):
    id: int
    workflow: str
    workflow_id: int
    kind: Literal["grid", "random"]
    grid: dict[str, list[Any]] | None
    random: dict[str, Any] | None
    params: dict[str, Any]
    swept: list[str] = Field(description="The params it varies.")
    max_parallel: int
    max_runs: int | None
    seed: int | None
    metric: str | None
    direction: Direction
    status: str = Field(description="running, succeeded, failed or cancelled.")
    total: int
    counts: Counts
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None


class SweepOut(SweepSummary):
    ranked_by: str | None = Field(description="The metric `best` was chosen by.")
    ranked_direction: Direction
    metrics: list[str] = Field(description="Every metric key its runs logged.")
    rows: list[SweepRow] = Field(description="One per run, in combination order.")
    best: SweepRow | None = Field(
        description="The run with the best final value of `ranked_by`; runs that did not log "
        "it are never best."
    )


async def _summary(
    session: AsyncSession, sweep: Sweep, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    wf = await session.get(Workflow, sweep.workflow_id)
    user = await session.get(User, sweep.created_by) if sweep.created_by else None
    if counts is None:
        counts = await groups.count_runs(session, groups.SWEEP, sweep.id)
    fields = ("id", "workflow_id", "kind", "max_parallel", "max_runs", "seed", "metric",
              "direction", "status", "created_at", "finished_at")  # fmt: skip
    return {
        **{name: getattr(sweep, name) for name in fields},
        "workflow": wf.name if wf else "?",
        "grid": sweep.spec.get("grid"),
        "random": sweep.spec.get("random"),
        "params": sweep.spec.get("params", {}),
        "swept": sweeps.swept_keys(sweep),
        "total": sum(counts.values()),
        "counts": counts,
        "created_by": user.username if user else None,
    }


async def _detail(
    session: AsyncSession, sweep: Sweep, metric: str | None = None, direction: str | None = None
) -> dict[str, Any]:
    made = list(
        (await session.execute(select(Run).where(Run.sweep_id == sweep.id).order_by(Run.id)))
        .scalars()
    )  # fmt: skip
    final = await final_metrics_of(session, [r.id for r in made])
    keys = sweeps.swept_keys(sweep)
    rows = [_row(run, keys, final.get(run.id, {})) for run in made]
    ranked_by, ranked_direction = metric or sweep.metric, direction or sweep.direction
    return {
        **await _summary(session, sweep),
        "ranked_by": ranked_by,
        "ranked_direction": ranked_direction,
        "metrics": sorted({key for row in rows for key in row["metrics"]}),
        "rows": rows,
        "best": sweeps.best(rows, ranked_by, ranked_direction) if ranked_by else None,
    }


def _row(run: Run, keys: list[str], metrics: dict[str, float]) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "status": run.status,
        "swept": {key: run.params.get(key) for key in keys},
        "params": run.params,
        "duration": elapsed(run.started_at, run.finished_at),
        "metrics": metrics,
    }


@router.post(
    "/api/v1/workflows/{ref}/sweeps",
    status_code=status.HTTP_201_CREATED,
    response_model=SweepOut,
    responses=errors(404, 422),
)
async def create_sweep(
    ref: Ref,
    body: SweepCreate,
    who: Editor,
    ctx: Ctx,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> Any:
    """One run per combination: every one of a `grid`, or `random.n` drawn from
    `random.space` (seeded: the same seed draws the same). Each combination over `params`
    must suit the workflow's params schema, or nothing is made (422 naming the field and the
    combination). More than 1000 combinations need an explicit `max_runs`. The same
    `Idempotency-Key` again returns the sweep it made, with 200."""
    try:
        async with ctx.db.write() as session:
            wf = await store.get(session, ref)
            workflow_id = wf.id  # kept: a rollback below expires `wf`
            made = await sweeps.by_key(session, workflow_id, idempotency_key)
            if made is None:
                made, run_ids = await _create(session, wf, body, who, idempotency_key)
                woken = run_ids[: body.max_parallel]  # the others wait for these to end
            else:
                woken, response.status_code = [], status.HTTP_200_OK
            sweep_id = made.id
    except IntegrityError:  # the same key raced us; it won
        async with ctx.db.read() as session:
            found = await sweeps.by_key(session, workflow_id, idempotency_key)
        assert found is not None
        sweep_id, woken, response.status_code = found.id, [], status.HTTP_200_OK
    for run_id in woken:
        ctx.wake(run_id)
    response.headers["Location"] = f"/api/v1/sweeps/{sweep_id}"
    async with ctx.db.read() as session:
        return await _detail(session, await sweeps.get(session, sweep_id))


async def _create(
    session: AsyncSession, wf: Workflow, body: SweepCreate, who: Principal, key: str | None
) -> tuple[Sweep, list[int]]:
    kind = "grid" if body.grid is not None else "random"
    spec = body.grid if body.grid is not None else _random_spec(body.random)
    return await sweeps.create(
        session, wf, kind=kind, spec=spec, params=body.params, max_parallel=body.max_parallel,
        max_runs=body.max_runs, seed=body.random.seed if body.random else None,
        metric=body.metric, direction=body.direction, who=who, idempotency_key=key,
    )  # fmt: skip


def _random_spec(search: RandomSearch | None) -> dict[str, Any]:
    assert search is not None  # by SweepCreate's validator
    return {"n": search.n, "space": search.space}


SWEEP_SORT = pagination.SortKey(Sweep.created_at, Sweep.id, True, datetime)


@router.get(
    "/api/v1/workflows/{ref}/sweeps", response_model=Page[SweepSummary], responses=errors(404)
)
async def list_sweeps(
    ref: Ref,
    who: Viewer,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    """The workflow's sweeps, newest first (without their table)."""
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
        query = select(Sweep).where(Sweep.workflow_id == wf.id)
        if cursor is not None:
            where = pagination.decode_cursor(cursor, "-created", SWEEP_SORT)
            query = query.where(pagination.after(SWEEP_SORT, *where))
        query = pagination.order(query, SWEEP_SORT).limit(limit + 1)
        rows = list((await session.execute(query)).scalars())
        counts = await groups.count_runs_of(session, groups.SWEEP, [s.id for s in rows[:limit]])
        items = [await _summary(session, s, counts[s.id]) for s in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = pagination.encode_cursor("-created", last.created_at, last.id) if last else None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/api/v1/sweeps/{sweep_id}", response_model=SweepOut, responses=errors(404))
async def get_sweep(
    sweep_id: SweepId,
    who: Viewer,
    ctx: Ctx,
    metric: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    direction: Direction | None = None,
) -> Any:
    """The sweep, its runs by status, a row per run (its params and final metrics) and the
    best run by `metric` (default: the sweep's) in `direction` (default: the sweep's)."""
    async with ctx.db.read() as session:
        return await _detail(session, await sweeps.get(session, sweep_id), metric, direction)


@router.post(
    "/api/v1/sweeps/{sweep_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SweepOut,
    responses=errors(404, 409),
)
async def cancel_sweep(sweep_id: SweepId, who: Editor, ctx: Ctx) -> Any:
    """Cancel its unfinished runs: those not started never start, running ones stop. It
    ends `cancelled` once they have (or `failed`, if one of its runs had failed)."""
    async with ctx.db.write() as session:
        sweep = await sweeps.get(session, sweep_id)
        woken = await sweeps.cancel(session, sweep, who)
        detail = await _detail(session, sweep)
    for run_id in woken:
        ctx.wake(run_id)
    return detail
