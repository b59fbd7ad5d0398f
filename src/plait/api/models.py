"""The model registry under /api/v1/models: viewers read, editors create models, change
descriptions and tags and move versions between stages; versions are made by tasks
(`plait.log_model`). A version's detail carries its lineage: the run that made it, the
dataset versions that run read, its exports and its stage history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.api.deps import Ctx, Editor, Viewer
from plait.api.inputs import Digits, IdPath
from plait.api.openapi import errors
from plait.api.schemas import Page, PatchBody
from plait.auth.roles import require_owner_or_admin
from plait.db import pagination
from plait.db.models import Model, ModelExport, ModelVersion, User
from plait.errors import Conflict, NotFound
from plait.models import registry
from plait.orchestration.runs import get_run
from plait.workflows.spec import NAME_MAX, NAME_PATTERN, Name, Tag, Text

router = APIRouter(tags=["models"])
ModelName = Annotated[
    str, Path(alias="model", max_length=NAME_MAX, pattern=NAME_PATTERN, description="Its name.")
]
VersionNo = Annotated[int, Path(ge=1, le=2**31 - 1), Digits]
Tags = Annotated[list[Tag], Field(max_length=50)]
StageName = Annotated[str, Field(max_length=16, description="none, staging, production, archived")]


class ModelCreate(BaseModel):
    model_config = {"extra": "forbid"}

    name: Name
    description: Text = Field(default="", max_length=10_000)
    tags: Tags = Field(default_factory=list)


class ModelPatch(PatchBody):
    description: Text | None = Field(default=None, max_length=10_000)
    tags: Tags | None = None


class StageIn(BaseModel):
    model_config = {"extra": "forbid"}

    stage: StageName
    comment: Text = Field(default="", max_length=1000)


class FileOut(BaseModel):
    name: str
    size: int
    sha256: str


class ModelVersionOut(BaseModel):
    model: str
    version: int
    flavor: str
    stage: str
    description: str
    tags: list[str]
    signature: dict[str, Any]
    framework: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any] = Field(description="The run's last value per metric key.")
    files: list[FileOut]
    run_id: int | None
    task_key: str | None
    attempt: int | None
    created_by: str | None
    created_at: datetime
    stage_changed_at: datetime | None


class ModelOut(BaseModel):
    id: int
    name: str
    description: str
    tags: list[str]
    created_by: str | None
    created_at: datetime
    versions: int
    latest: ModelVersionOut | None
    production: int | None = Field(description="The version in production, if any.")
    stages: dict[str, int] = Field(description="Versions per stage (other than none).")


class SourceRunOut(BaseModel):
    id: int
    workflow: str
    status: str
    task_key: str | None
    attempt: int | None


class DatasetReadOut(BaseModel):
    dataset: str
    version: int
    checksum: str | None
    task_key: str


class ExportSummaryOut(BaseModel):
    format: str
    size: int
    checksum: str
    max_abs_diff: float | None
    created_at: datetime


class StageChangeOut(BaseModel):
    from_stage: str
    to_stage: str
    comment: str
    user: str | None
    created_at: datetime


class ModelLineageOut(BaseModel):
    run: SourceRunOut | None = Field(description="The run that made it (null once deleted).")
    datasets: list[DatasetReadOut] = Field(description="Dataset versions that run read.")
    exports: list[ExportSummaryOut]
    stages: list[StageChangeOut]


class VersionDetailOut(ModelVersionOut):
    lineage: ModelLineageOut


def version_out(row: ModelVersion, name: str, creator: str | None) -> dict[str, Any]:
    return {"model": name, "version": row.version, "flavor": row.flavor, "stage": row.stage,
            "description": row.description, "tags": row.tags, "signature": row.signature,
            "framework": row.framework, "params": row.params, "metrics": row.metrics,
            "files": row.files, "run_id": row.run_id, "task_key": row.task_key,
            "attempt": row.attempt, "created_by": creator, "created_at": row.created_at,
            "stage_changed_at": row.stage_changed_at}  # fmt: skip


async def _usernames(session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


async def _models_out(session: AsyncSession, models: list[Model]) -> list[dict[str, Any]]:
    """The models with their version counts, stages and newest versions, in four queries."""
    ids = [m.id for m in models]
    counts = dict((await session.execute(
        select(ModelVersion.model_id, func.max(ModelVersion.version))
        .where(ModelVersion.model_id.in_(ids)).group_by(ModelVersion.model_id)
    )).all())  # fmt: skip
    stages: dict[int, dict[str, int]] = {}
    production: dict[int, int] = {}
    top_version = func.max(ModelVersion.version)
    rows = await session.execute(
        select(ModelVersion.model_id, ModelVersion.stage, func.count(), top_version)
        .where(ModelVersion.model_id.in_(ids), ModelVersion.stage != "none")
        .group_by(ModelVersion.model_id, ModelVersion.stage)
    )
    for model_id, stage, count, top in rows:
        stages.setdefault(model_id, {})[stage] = count
        if stage == "production":
            production[model_id] = top
    newest = list(await session.scalars(select(ModelVersion).where(
        ModelVersion.model_id.in_(ids),
        ModelVersion.version.in_(set(counts.values()) or {0}),
    )))  # fmt: skip
    latest = {v.model_id: v for v in newest if counts.get(v.model_id) == v.version}
    total = dict((await session.execute(
        select(ModelVersion.model_id, func.count()).where(ModelVersion.model_id.in_(ids))
        .group_by(ModelVersion.model_id)
    )).all())  # fmt: skip
    names = await _usernames(session, {m.created_by for m in models}
                             | {v.created_by for v in latest.values()})  # fmt: skip
    out = []
    for m in models:
        last = latest.get(m.id)
        newest_out = version_out(last, m.name, names.get(last.created_by or 0)) if last else None
        out.append({"id": m.id, "name": m.name, "description": m.description, "tags": m.tags,
                    "created_by": names.get(m.created_by or 0), "created_at": m.created_at,
                    "versions": total.get(m.id, 0), "latest": newest_out,
                    "production": production.get(m.id),
                    "stages": stages.get(m.id, {})})  # fmt: skip
    return out


MODELS = "/api/v1/models"
ONE = MODELS + "/{model}"
VERSIONS = ONE + "/versions"
VERSION = VERSIONS + "/{version}"
SORT = pagination.SortKey(Model.name, Model.id, False, str)
VERSION_SORT = pagination.SortKey(ModelVersion.version, ModelVersion.id, True, int)


@router.get(MODELS, response_model=Page[ModelOut])
async def list_models(
    who: Viewer,
    ctx: Ctx,
    q: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
    tag: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    stage: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z]+$",
                                       description="Models with a version in this stage.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:  # fmt: skip
    """By name; `q` matches the name or description, `tag` one of the tags, `stage` a
    stage one of the versions is in."""
    query = select(Model)
    if q:
        query = query.where(Model.name.icontains(q, autoescape=True)
                            | Model.description.icontains(q, autoescape=True))  # fmt: skip
    if stage is not None:
        registry.check_stage(stage, ("query", "stage"))
        query = query.where(Model.id.in_(
            select(ModelVersion.model_id).where(ModelVersion.stage == stage)
        ))  # fmt: skip
    if cursor is not None:
        query = query.where(pagination.after(SORT, *pagination.decode_cursor(cursor, "name", SORT)))
    async with ctx.db.read() as session:
        rows = await pagination.tagged(session, query, SORT, limit + 1, tag)
        items = await _models_out(session, rows[:limit])
    last = rows[limit - 1] if len(rows) > limit else None
    return {
        "items": items,
        "next_cursor": pagination.encode_cursor("name", last.name, last.id) if last else None,
    }


@router.post(MODELS, status_code=status.HTTP_201_CREATED, response_model=ModelOut,
             responses=errors(409))  # fmt: skip
async def create_model(body: ModelCreate, who: Editor, ctx: Ctx) -> Any:
    """An empty model; its versions come from tasks (`plait.log_model`)."""
    async with ctx.db.write() as session:
        model = await registry.create_model(session, who, body.model_dump())
        return (await _models_out(session, [model]))[0]


@router.get(ONE, response_model=ModelOut)
async def get_model(name: ModelName, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return (await _models_out(session, [await registry.get_model(session, name)]))[0]


@router.patch(ONE, response_model=ModelOut)
async def update_model(name: ModelName, body: ModelPatch, who: Editor, ctx: Ctx) -> Any:
    """Its description or tags."""
    changes = body.model_dump(exclude_unset=True)
    async with ctx.db.write() as session:
        model = await registry.get_model(session, name)
        for key, value in changes.items():
            setattr(model, key, value)
        audit.record(session, who, "model.updated", "model", model.id, fields=sorted(changes))
        await session.flush()
        return (await _models_out(session, [model]))[0]


@router.delete(ONE, status_code=status.HTTP_204_NO_CONTENT, responses=errors(409))
async def delete_model(name: ModelName, who: Editor, ctx: Ctx) -> None:
    """With its versions, their stage history and exports (the files stay with the runs
    that made them). The model's creator or an admin; 409 while a deployment serves it."""
    async with ctx.db.write() as session:
        model = await registry.get_model(session, name)
        require_owner_or_admin(who, model.created_by, "model")
        used = await registry.deployments_of(session, model)
        if used:
            raise Conflict(f"model {name!r} is deployed as {', '.join(used)}: delete "
                           "those deployments first", code="model-deployed")  # fmt: skip
        audit.record(session, who, "model.deleted", "model", model.id, name=model.name)
        await session.delete(model)


@router.get(VERSIONS, response_model=Page[ModelVersionOut])
async def list_versions(
    name: ModelName,
    who: Viewer,
    ctx: Ctx,
    stage: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    """Newest first; `stage` keeps the versions in that stage."""
    async with ctx.db.read() as session:
        model = await registry.get_model(session, name)
        query = select(ModelVersion, User.username).outerjoin(
            User, User.id == ModelVersion.created_by
        ).where(ModelVersion.model_id == model.id)  # fmt: skip
        if stage is not None:
            registry.check_stage(stage, ("query", "stage"))
            query = query.where(ModelVersion.stage == stage)
        if cursor is not None:
            value, row_id = pagination.decode_cursor(cursor, "-version", VERSION_SORT)
            query = query.where(pagination.after(VERSION_SORT, value, row_id))
        query = pagination.order(query, VERSION_SORT).limit(limit + 1)
        rows = (await session.execute(query)).all()
    last = rows[limit - 1][0] if len(rows) > limit else None
    return {"items": [version_out(v, name, user) for v, user in rows[:limit]],
            "next_cursor": pagination.encode_cursor("-version", last.version, last.id)
            if last else None}  # fmt: skip


async def _lineage(session: AsyncSession, row: ModelVersion) -> dict[str, Any]:
    exports = await session.scalars(
        select(ModelExport).where(ModelExport.model_version_id == row.id)
        .order_by(ModelExport.format)
    )  # fmt: skip
    return {
        "run": await registry.source_run(session, row),
        "datasets": await registry.datasets_read(session, row),
        "exports": [
            {
                "format": e.format,
                "size": e.size,
                "checksum": e.checksum,
                "max_abs_diff": e.max_abs_diff,
                "created_at": e.created_at,
            }
            for e in exports
        ],
        "stages": await registry.stage_history(session, row),
    }


async def _detail(session: AsyncSession, name: str, row: ModelVersion) -> dict[str, Any]:
    creator = (await _usernames(session, {row.created_by})).get(row.created_by or 0)
    return {**version_out(row, name, creator), "lineage": await _lineage(session, row)}


@router.get(VERSION, response_model=VersionDetailOut)
async def get_version(name: ModelName, version: VersionNo, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return await _detail(session, name, await registry.get_version(session, name, version))


@router.patch(VERSION, response_model=VersionDetailOut)
async def update_version(
    name: ModelName, version: VersionNo, body: ModelPatch, who: Editor, ctx: Ctx
) -> Any:
    """Its description or tags (what it holds never changes; its stage has its route)."""
    changes = body.model_dump(exclude_unset=True)
    async with ctx.db.write() as session:
        row = await registry.get_version(session, name, version)
        for key, value in changes.items():
            setattr(row, key, value)
        audit.record(session, who, "model.version_updated", "model_version", row.id,
                     model=name, version=version, fields=sorted(changes))  # fmt: skip
        await session.flush()
        return await _detail(session, name, row)


@router.post(VERSION + "/stage", response_model=VersionDetailOut, responses=errors(409))
async def set_stage(
    name: ModelName, version: VersionNo, body: StageIn, who: Editor, ctx: Ctx
) -> Any:
    """Move the version to `stage` (none, staging, production, archived). One version of a
    model is in production: promoting one archives the one before."""
    registry.check_stage(body.stage)
    async with ctx.db.write() as session:
        row = await registry.get_version(session, name, version)
        await registry.set_stage(session, row, body.stage, who, body.comment)
        return await _detail(session, name, row)


@router.get(VERSION + "/lineage", response_model=ModelLineageOut)
async def version_lineage(name: ModelName, version: VersionNo, who: Viewer, ctx: Ctx) -> Any:
    """The run that made it, its workflow, the dataset versions it read, exports and stages."""
    async with ctx.db.read() as session:
        return await _lineage(session, await registry.get_version(session, name, version))


@router.get(
    VERSION + "/files/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def download_file(
    name: ModelName,
    version: VersionNo,
    path: Annotated[str, Path(max_length=1024, description="A name listed in `files`.")],
    who: Viewer,
    ctx: Ctx,
) -> Response:
    """One of the version's files, streamed from the artifact store. Only the names its
    `files` list holds are served."""
    async with ctx.db.read() as session:
        row = await registry.get_version(session, name, version)
    entry = next((f for f in row.files if f.get("name") == path), None)
    if entry is None:
        raise NotFound(f"version {version} of {name!r} has no file {path!r}")
    chunks = ctx.artifacts.open(f"{row.artifact_key}/{path}")
    try:
        first = await anext(chunks, b"")  # a missing file is a 404, not a cut-off 200
    except NotFound:
        raise NotFound(f"{path!r} of version {version} of {name!r} is no longer stored") from None
    filename = path.rsplit("/", 1)[-1]
    headers = {
        "Content-Disposition": f"attachment; filename*=utf-8''{quote(filename, safe='')}",
        "Content-Length": str(entry["size"]),
        "X-Checksum-Sha256": entry["sha256"],
        "X-Content-Type-Options": "nosniff",
    }
    # Bytes a task wrote: never a type a browser would render.
    return StreamingResponse(_prepend(first, chunks), media_type="application/octet-stream",
                             headers=headers)  # fmt: skip


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


@router.get("/api/v1/runs/{run_id}/models", response_model=list[ModelVersionOut])
async def run_models(run_id: IdPath, who: Viewer, ctx: Ctx) -> Any:
    """The model versions the run's tasks logged, oldest first."""
    async with ctx.db.read() as session:
        await get_run(session, run_id)
        rows = (await session.execute(
            select(ModelVersion, Model.name).join(Model, Model.id == ModelVersion.model_id)
            .where(ModelVersion.run_id == run_id).order_by(ModelVersion.id)
        )).all()  # fmt: skip
        names = await _usernames(session, {v.created_by for v, _ in rows})
    return [version_out(v, model, names.get(v.created_by or 0)) for v, model in rows]
