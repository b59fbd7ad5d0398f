"""/api/v1/workflows: create, read, list, replace, patch, delete, clone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field, StrictBool
from sqlalchemy import Select, exists, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from plait.api.deps import Context, Ctx, Editor, Viewer
from plait.api.inputs import IfMatch, RefPath
from plait.api.openapi import errors
from plait.api.schemas import Page, PatchBody, etag, parse_if_match
from plait.auth.roles import Principal
from plait.db import ids, pagination
from plait.db.models import Run, User, Workflow, WorkflowTag
from plait.errors import Conflict, FieldError, InvalidInput
from plait.executors.layout import remove_run_files
from plait.models.registry import models_from_workflow
from plait.orchestration import retention, runs
from plait.orchestration.states import RUN_FINISHED, RunStatus
from plait.workflows import store
from plait.workflows.schedule import next_fire_times
from plait.workflows.spec import Name, Text, WorkflowSpec, parse

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])

Ref = RefPath


class WorkflowCreate(WorkflowSpec):
    paused: StrictBool = False


class WorkflowReplace(WorkflowSpec):
    paused: StrictBool | None = None


class WorkflowPatch(PatchBody):
    """Fields to change; the others keep their values. `tasks`, when given, replaces the list.
    `schedule: null` removes the schedule, `sla_seconds: null` the SLA, `retention_days: null`
    the workflow's own retention."""

    nullable = frozenset({"schedule", "sla_seconds", "retention_days"})

    name: Name | None = None
    description: Text | None = None
    tags: list[str] | None = None
    schedule: Text | None = None
    timezone: Text | None = None
    params: dict[str, Any] | None = None
    max_active_runs: int | None = None
    sla_seconds: float | None = None
    retention_days: int | None = None
    tasks: list[dict[str, Any]] | None = None
    triggers: list[dict[str, Any]] | None = None
    paused: StrictBool | None = None


class CloneRequest(BaseModel):
    name: Name


class WorkflowOut(WorkflowSpec):
    id: int
    paused: bool
    owner_id: int | None
    owner: str | None
    current_version: int
    created_at: datetime
    updated_at: datetime
    next_fire_times: list[datetime] = Field(
        description="The next three scheduled runs, UTC; none while paused."
    )


class RunMark(BaseModel):
    id: int
    status: RunStatus


class WorkflowSummary(BaseModel):
    id: int
    name: str
    description: str
    tags: list[str]
    schedule: str | None
    timezone: str
    paused: bool
    owner_id: int | None
    owner: str | None
    current_version: int
    created_at: datetime
    updated_at: datetime
    next_fire_time: datetime | None = Field(description="The next scheduled run; none if paused.")
    last_runs: list[RunMark] = Field(description="Its latest runs, newest first (up to 5).")


async def workflow_out(session: AsyncSession, wf: Workflow) -> WorkflowOut:
    owner = await session.get(User, wf.owner_id) if wf.owner_id is not None else None
    return WorkflowOut.model_validate(
        {
            **wf.spec,
            "id": wf.id,
            "paused": wf.paused,
            "owner_id": wf.owner_id,
            "owner": owner.username if owner else None,
            "current_version": wf.current_version,
            "created_at": wf.created_at,
            "updated_at": wf.updated_at,
            "next_fire_times": upcoming(wf.schedule, wf.timezone, wf.paused),
        }
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=WorkflowOut, responses=errors(409)
)
async def create_workflow(body: WorkflowCreate, who: Editor, ctx: Ctx, response: Response) -> Any:
    spec = WorkflowSpec.model_validate(body.model_dump(exclude={"paused"}))
    async with ctx.db.write() as session:
        wf = await store.create(session, who, spec, paused=body.paused)
        out = await workflow_out(session, wf)
    response.headers.update(etag(out.current_version))
    response.headers["Location"] = f"/api/v1/workflows/{out.id}"
    return out


SORTS: dict[str, pagination.SortKey] = {
    "name": pagination.SortKey(Workflow.name, Workflow.id, False, str),
    "-name": pagination.SortKey(Workflow.name, Workflow.id, True, str),
    "created": pagination.SortKey(Workflow.created_at, Workflow.id, False, datetime),
    "-created": pagination.SortKey(Workflow.created_at, Workflow.id, True, datetime),
    "updated": pagination.SortKey(Workflow.updated_at, Workflow.id, False, datetime),
    "-updated": pagination.SortKey(Workflow.updated_at, Workflow.id, True, datetime),
}
Sort = Literal["name", "-name", "created", "-created", "updated", "-updated"]
_SORT_VALUE = {"name": "name", "created": "created_at", "updated": "updated_at"}


def _filtered(
    query: Select[Any], tag: list[str], q: str | None, owner: str | None, paused: bool | None
) -> Select[Any]:
    for t in tag:
        query = query.where(
            exists().where(WorkflowTag.workflow_id == Workflow.id, WorkflowTag.tag == t)
        )
    if q:
        query = query.where(
            Workflow.name.icontains(q, autoescape=True)
            | Workflow.description.icontains(q, autoescape=True)
        )
    if owner is not None:
        # Usernames may be all digits too: "12" is user 12 or the user named "12".
        owner_id = ids.parse_id(owner)
        by = (
            User.username == owner
            if owner_id is None
            else (User.username == owner) | (User.id == owner_id)
        )
        query = query.where(Workflow.owner_id.in_(select(User.id).where(by)))
    if paused is not None:
        query = query.where(Workflow.paused == paused)
    return query


def _no_nul(**values: str | None) -> None:
    bad = [
        FieldError(("query", k), "must not contain NUL")
        for k, v in values.items()
        if v and "\x00" in v
    ]
    if bad:
        raise InvalidInput(bad)


@router.get("", response_model=Page[WorkflowSummary])
async def list_workflows(
    who: Viewer,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    offset: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    tag: Annotated[list[str] | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name/description search.")] = None,
    owner: Annotated[str | None, Query(max_length=64, description="Username or id.")] = None,
    paused: bool | None = None,
    sort: Sort = "name",
) -> Any:
    _no_nul(q=q, owner=owner, cursor=cursor, tag=",".join(tag or []))
    if cursor is not None and offset is not None:
        raise InvalidInput([FieldError(("query", "offset"), "use either cursor or offset")])
    key = SORTS[sort]
    columns = [*Workflow.__table__.c, User.username.label("owner")]
    columns = [c for c in columns if c.name != "spec"]
    query = _filtered(
        select(*columns).outerjoin(User, User.id == Workflow.owner_id), tag or [], q, owner, paused
    )
    total = None
    async with ctx.db.read() as session:
        if offset is not None:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            query = query.offset(offset)
        elif cursor is not None:
            query = query.where(pagination.after(key, *pagination.decode_cursor(cursor, sort, key)))
        rows = (await session.execute(pagination.order(query, key).limit(limit + 1))).all()
        marks = await _last_runs(session, [row.id for row in rows[:limit]])
    items = [_summary(row._mapping, marks.get(row.id, [])) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit and offset is None:
        last = rows[limit - 1]._mapping
        next_cursor = pagination.encode_cursor(
            sort, last[_SORT_VALUE[sort.lstrip("-")]], last["id"]
        )
    return Page[WorkflowSummary](items=items, next_cursor=next_cursor, total=total)


LAST_RUNS = 5
UNION_TERMS = 100  # per query: SQLite refuses a compound SELECT of more than 500


async def _last_runs(session: AsyncSession, workflow_ids: list[int]) -> dict[int, list[RunMark]]:
    """The latest runs of each workflow on the page, one query per UNION_TERMS rows: a
    newest-first LIMIT per workflow on ix_runs_workflow_id, glued with UNION ALL, so it reads
    LAST_RUNS index entries per workflow however long their history (a window function over
    the workflows' runs read every one of them)."""
    rows: list[Any] = []
    for start in range(0, len(workflow_ids), UNION_TERMS):
        newest = [
            select(Run.workflow_id, Run.id, Run.status)
            .where(Run.workflow_id == workflow_id)
            .order_by(Run.id.desc())
            .limit(LAST_RUNS)
            .subquery()
            for workflow_id in workflow_ids[start : start + UNION_TERMS]
        ]
        rows += await session.execute(union_all(*(select(sub) for sub in newest)))
    out: dict[int, list[RunMark]] = {}
    for row in sorted(rows, key=lambda r: -r.id):
        out.setdefault(row.workflow_id, []).append(RunMark(id=row.id, status=row.status))
    return out


def upcoming(schedule: str | None, timezone: str, paused: bool, count: int = 3) -> list[datetime]:
    """The next fire times, none while paused: the schedule starts nothing then."""
    return [] if paused else next_fire_times(schedule, timezone, count=count)


def _summary(row: Any, last_runs: list[RunMark]) -> WorkflowSummary:
    fire = upcoming(row["schedule"], row["timezone"], row["paused"], count=1)
    return WorkflowSummary.model_validate(
        {**row, "next_fire_time": fire[0] if fire else None, "last_runs": last_runs}
    )


@router.get("/{ref}", response_model=WorkflowOut)
async def get_workflow(ref: Ref, who: Viewer, ctx: Ctx, response: Response) -> Any:
    async with ctx.db.read() as session:
        out = await workflow_out(session, await store.get(session, ref))
    response.headers.update(etag(out.current_version))
    return out


async def save(
    ctx: Context,
    who: Principal,
    ref: str,
    if_match: str | None,
    response: Response,
    new_spec: Callable[[dict[str, Any]], WorkflowSpec],
    paused: bool | None = None,
) -> WorkflowOut:
    """Save the definition `new_spec` makes from the current one; set ETag to the version."""
    async with ctx.db.write() as session:
        wf = await store.get_for_edit(session, ref, who)
        spec = new_spec(wf.spec)
        await store.update(session, who, wf, spec, if_match=parse_if_match(if_match), paused=paused)
        out = await workflow_out(session, wf)
    response.headers.update(etag(out.current_version))
    return out


@router.put("/{ref}", response_model=WorkflowOut, responses=errors(409))
async def replace_workflow(
    ref: Ref,
    body: WorkflowReplace,
    who: Editor,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    spec = WorkflowSpec.model_validate(body.model_dump(exclude={"paused"}))
    return await save(ctx, who, ref, if_match, response, lambda _: spec, body.paused)


@router.patch("/{ref}", response_model=WorkflowOut, responses=errors(409))
async def patch_workflow(
    ref: Ref,
    body: WorkflowPatch,
    who: Editor,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    changes = body.model_dump(exclude_unset=True)
    paused = changes.pop("paused", None)

    def patched(current: dict[str, Any]) -> WorkflowSpec:
        return parse({**current, **changes})

    return await save(ctx, who, ref, if_match, response, patched, paused)


STOP_WAIT_SECONDS = 5.0  # beyond the kill grace: how long a delete waits for tasks to stop


@router.delete("/{ref}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(409))
async def delete_workflow(ref: Ref, who: Editor, ctx: Ctx) -> None:
    """Delete a workflow, its versions and its runs, with the runs' logs and artifacts. Its
    unfinished runs are cancelled first and their running tasks stopped (SIGTERM, then
    SIGKILL after the grace period); 409 if they have not stopped by then (the cancel goes
    on: try again), or while its runs made model versions (their files are the runs')."""
    workflow_id = await _stop_runs(ctx, ref, who)
    # Its finished runs first, a batch per transaction (a workflow may have many: no lock is
    # held long); then the workflow with whatever is left, in one.
    while batch := await _finished_runs(ctx, workflow_id):
        async with ctx.db.write() as session:
            await retention.delete_rows(session, batch, retention.Tally())
        await _remove_files(ctx, batch)
    async with ctx.db.write() as session:
        wf = await store.get_for_edit(session, ref, who)
        await _refuse_models(session, wf)
        if stopping := await runs.cancel_workflow_runs(session, who, wf.id):
            raise _still_stopping(ref, stopping)
        run_ids = await store.remove(session, who, wf)
        await retention.delete_rows(session, run_ids, retention.Tally())
    await _remove_files(ctx, run_ids)


async def _stop_runs(ctx: Context, ref: str, who: Principal) -> int:
    """Cancel the workflow's unfinished runs and wait until none of their tasks runs; its id.
    The scheduler whose executor runs a task stops it (it hears of the cancel on the bus)."""
    deadline = time.monotonic() + ctx.settings.kill_grace_seconds + STOP_WAIT_SECONDS
    while True:
        async with ctx.db.write() as session:
            wf = await store.get_for_edit(session, ref, who)
            await _refuse_models(session, wf)
            stopping = await runs.cancel_workflow_runs(session, who, wf.id)
            workflow_id = wf.id
        if not stopping:
            return workflow_id
        for run_id in stopping:
            ctx.wake(run_id)
        if time.monotonic() > deadline:
            raise _still_stopping(ref, stopping)
        await asyncio.sleep(0.1)


def _still_stopping(ref: str, run_ids: list[int]) -> Conflict:
    return Conflict(f"runs {run_ids} of {ref!r} are still stopping; try again in a moment",
                    code="workflow-runs-stopping")  # fmt: skip


async def _finished_runs(ctx: Context, workflow_id: int) -> list[int]:
    async with ctx.db.read() as session:
        query = (
            select(Run.id)
            .where(Run.workflow_id == workflow_id, Run.status.in_(list(RUN_FINISHED)))
            .order_by(Run.id)
            .limit(ctx.settings.retention_batch_size)
        )
        return list((await session.execute(query)).scalars())


async def _remove_files(ctx: Context, run_ids: list[int]) -> None:
    """After the commit (a rolled back delete keeps its files), in a thread (a big tree takes
    a while), before answering (whoever reads the run's folders next finds them gone)."""
    await asyncio.to_thread(remove_run_files, ctx.settings.data_dir, run_ids)
    for run_id in run_ids:  # the store's copies (S3...); log chunks went with the rows
        await ctx.artifacts.delete_run(run_id)


async def _refuse_models(session: AsyncSession, wf: Workflow) -> None:
    made = await models_from_workflow(session, wf.id)
    if made:
        shown = ", ".join(made[:10]) + (f" and {len(made) - 10} more" if len(made) > 10 else "")
        raise Conflict(f"runs of {wf.name!r} made model versions ({shown}): delete those "
                       "models first", code="workflow-has-models")  # fmt: skip


@router.post(
    "/{ref}/clone",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkflowOut,
    responses=errors(409),
)
async def clone_workflow(ref: Ref, body: CloneRequest, who: Editor, ctx: Ctx) -> Any:
    async with ctx.db.write() as session:
        wf = await store.clone(session, who, await store.get(session, ref), body.name)
        return await workflow_out(session, wf)
