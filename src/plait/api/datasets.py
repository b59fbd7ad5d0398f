"""The dataset registry under /api/v1/datasets: viewers read, editors create datasets and add
versions (an upload streamed to the artifact store, or a registered URI), the dataset's
creator or an admin changes or deletes it. Lineage both ways."""

from __future__ import annotations

import contextlib
import json
import mimetypes
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from starlette.requests import ClientDisconnect

from plait import audit, bounded
from plait.api.deps import Context, Ctx, Editor, Viewer
from plait.api.inputs import Digits, IdPath
from plait.api.openapi import errors
from plait.api.schemas import Page, PatchBody
from plait.auth.roles import require_owner_or_admin
from plait.datasets import registry
from plait.datasets.registry import NewVersion
from plait.datasets.upload import Upload, csv_columns
from plait.datasets.uris import checked_uri
from plait.db import pagination
from plait.db.models import Dataset, DatasetVersion, User
from plait.errors import Conflict, FieldError, InvalidInput, NotFound, from_pydantic
from plait.orchestration.runs import get_run
from plait.storage.artifacts import dataset_key
from plait.workflows.spec import NAME_MAX, NAME_PATTERN, Name, Tag, Text

router = APIRouter(tags=["datasets"])
DatasetName = Annotated[
    str, Path(alias="dataset", max_length=NAME_MAX, pattern=NAME_PATTERN, description="Its name.")
]
VersionNo = Annotated[int, Path(ge=1, le=2**31 - 1), Digits]
Kind = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$",
                            description="tabular, images, vector, point-cloud, ...")]  # fmt: skip
Tags = Annotated[list[Tag], Field(max_length=50)]
FILENAME_MAX = 255


class DatasetCreate(BaseModel):
    model_config = {"extra": "forbid"}

    name: Name
    description: Text = Field(default="", max_length=10_000)
    kind: Kind = "tabular"
    tags: Tags = Field(default_factory=list)


class DatasetPatch(PatchBody):
    description: Text | None = Field(default=None, max_length=10_000)
    kind: Kind | None = None
    tags: Tags | None = None


class VersionRegister(BaseModel):
    """A version that points at data kept elsewhere (recorded, not copied)."""

    model_config = {"extra": "forbid"}

    uri: Text = Field(min_length=1, max_length=4096)
    ground_truth_uri: Text | None = Field(default=None, max_length=4096)
    checksum: str | None = Field(default=None, pattern=r"^(sha256:)?[0-9a-fA-F]{64}$")
    size: int | None = Field(default=None, ge=0, le=2**62)
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: Tags = Field(default_factory=list)


class VersionOut(BaseModel):
    dataset: str
    version: int
    uri: str | None = Field(description="Where the data is: a registered URI, or null when stored.")
    stored: bool = Field(description="The file is kept by Plait: download it.")
    filename: str | None
    ground_truth_uri: str | None
    size: int | None
    checksum: str | None = Field(description="sha256 of the file, hex.")
    metadata: dict[str, Any]
    tags: list[str]
    created_by: str | None
    created_at: datetime
    source_run_id: int | None


class DatasetOut(BaseModel):
    id: int
    name: str
    description: str
    kind: str
    tags: list[str]
    created_by: str | None
    created_at: datetime
    versions: int
    latest: VersionOut | None


class LineageOut(BaseModel):
    run_id: int
    workflow: str
    run_status: str
    task_key: str
    attempt: int
    direction: str = Field(description="read | wrote")
    created_at: datetime


class RunDatasetOut(BaseModel):
    dataset: str
    version: int
    checksum: str | None
    task_key: str
    attempt: int
    direction: str
    created_at: datetime


def version_out(row: DatasetVersion, name: str, creator: str | None) -> dict[str, Any]:
    return {"dataset": name, "version": row.version, "uri": row.uri,
            "stored": row.stored_key is not None, "filename": row.filename,
            "ground_truth_uri": row.ground_truth_uri, "size": row.size,
            "checksum": row.checksum, "metadata": row.meta, "tags": row.tags,
            "created_by": creator, "created_at": row.created_at,
            "source_run_id": row.source_run_id}  # fmt: skip


async def _creator(session: Any, user_id: int | None) -> str | None:
    return (
        None
        if user_id is None
        else await session.scalar(select(User.username).where(User.id == user_id))
    )


async def _datasets_out(session: Any, datasets: list[Dataset]) -> list[dict[str, Any]]:
    """The datasets with their version counts and newest versions, in three queries."""
    latest = await registry.newest_versions(session, [ds.id for ds in datasets])
    ids = {ds.created_by for ds in datasets} | {v.created_by for _, v in latest.values()}
    names = dict((await session.execute(
        select(User.id, User.username).where(User.id.in_([i for i in ids if i is not None]))
    )).all())  # fmt: skip
    out = []
    for ds in datasets:
        count, newest = latest.get(ds.id, (0, None))
        out.append({"id": ds.id, "name": ds.name, "description": ds.description, "kind": ds.kind,
                    "tags": ds.tags, "created_by": names.get(ds.created_by),
                    "created_at": ds.created_at, "versions": count,
                    "latest": version_out(newest, ds.name, names.get(newest.created_by))
                    if newest else None})  # fmt: skip
    return out


async def _dataset_out(session: Any, ds: Dataset) -> dict[str, Any]:
    return (await _datasets_out(session, [ds]))[0]


DATASETS = "/api/v1/datasets"
ONE = DATASETS + "/{dataset}"
VERSIONS = ONE + "/versions"
SORT = pagination.SortKey(Dataset.name, Dataset.id, False, str)
VERSION_SORT = pagination.SortKey(DatasetVersion.version, DatasetVersion.id, True, int)


@router.get(DATASETS, response_model=Page[DatasetOut])
async def list_datasets(
    who: Viewer,
    ctx: Ctx,
    q: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
    tag: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    """By name; `q` matches the name or description, `tag` one of the tags."""
    query = select(Dataset)
    if q:
        query = query.where(Dataset.name.icontains(q, autoescape=True)
                            | Dataset.description.icontains(q, autoescape=True))  # fmt: skip
    if cursor is not None:
        query = query.where(pagination.after(SORT, *pagination.decode_cursor(cursor, "name", SORT)))
    async with ctx.db.read() as session:
        rows = await pagination.tagged(session, query, SORT, limit + 1, tag)
        items = await _datasets_out(session, rows[:limit])
    last = rows[limit - 1] if len(rows) > limit else None
    return {
        "items": items,
        "next_cursor": pagination.encode_cursor("name", last.name, last.id) if last else None,
    }


@router.post(DATASETS, status_code=status.HTTP_201_CREATED, response_model=DatasetOut,
             responses=errors(409))  # fmt: skip
async def create_dataset(body: DatasetCreate, who: Editor, ctx: Ctx) -> Any:
    async with ctx.db.write() as session:
        ds = await registry.create_dataset(session, who, body.model_dump())
        return await _dataset_out(session, ds)


@router.get(ONE, response_model=DatasetOut)
async def get_dataset(name: DatasetName, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return await _dataset_out(session, await registry.get_dataset(session, name))


@router.patch(ONE, response_model=DatasetOut)
async def update_dataset(name: DatasetName, body: DatasetPatch, who: Editor, ctx: Ctx) -> Any:
    """The creator of the dataset or an admin changes its description, kind or tags."""
    changes = body.model_dump(exclude_unset=True)
    async with ctx.db.write() as session:
        ds = await registry.get_dataset(session, name)
        require_owner_or_admin(who, ds.created_by, "dataset")
        for key, value in changes.items():
            setattr(ds, key, value)
        audit.record(session, who, "dataset.updated", "dataset", ds.id, fields=sorted(changes))
        await session.flush()
        return await _dataset_out(session, ds)


@router.delete(ONE, status_code=status.HTTP_204_NO_CONTENT)
async def delete_dataset(name: DatasetName, who: Editor, ctx: Ctx) -> None:
    """With its versions and lineage; stored files are removed after the commit."""
    async with ctx.db.write() as session:
        ds = await registry.get_dataset(session, name)
        require_owner_or_admin(who, ds.created_by, "dataset")
        keys = list(await session.scalars(
            select(DatasetVersion.stored_key).where(DatasetVersion.dataset_id == ds.id,
                                                    DatasetVersion.stored_key.is_not(None))
        ))  # fmt: skip
        audit.record(session, who, "dataset.deleted", "dataset", ds.id, name=ds.name)
        await session.delete(ds)
    for key in keys:
        if key is not None:
            await ctx.artifacts.delete_dataset(key)


@router.get(VERSIONS, response_model=Page[VersionOut])
async def list_versions(
    name: DatasetName,
    who: Viewer,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    """Newest first."""
    async with ctx.db.read() as session:
        ds = await registry.get_dataset(session, name)
        query = select(DatasetVersion, User.username).outerjoin(
            User, User.id == DatasetVersion.created_by
        ).where(DatasetVersion.dataset_id == ds.id)  # fmt: skip
        if cursor is not None:
            value, row_id = pagination.decode_cursor(cursor, "-version", VERSION_SORT)
            query = query.where(pagination.after(VERSION_SORT, value, row_id))
        query = pagination.order(query, VERSION_SORT).limit(limit + 1)
        rows = (await session.execute(query)).all()
    last = rows[limit - 1][0] if len(rows) > limit else None
    return {"items": [version_out(v, name, user) for v, user in rows[:limit]],
            "next_cursor": pagination.encode_cursor("-version", last.version, last.id)
            if last else None}  # fmt: skip


_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "checksum": {"type": "string", "description": "sha256 (hex) to verify"},
                        "ground_truth_uri": {"type": "string"},
                        "tags": {"type": "string", "description": "comma-separated"},
                        "metadata": {"type": "string", "description": "a JSON object"},
                    },
                }
            },
            "application/json": {"schema": VersionRegister.model_json_schema()},
        },
    }
}


@router.post(VERSIONS, status_code=status.HTTP_201_CREATED, response_model=VersionOut,
             responses=errors(409, 413), openapi_extra=_UPLOAD_DOC)  # fmt: skip
async def create_version(name: DatasetName, request: Request, who: Editor, ctx: Ctx) -> Any:
    """The next version: a multipart upload (`file`, streamed to the artifact store, at most
    PLAIT_DATASET_MAX_BYTES; an optional `checksum` is verified and a mismatch keeps
    nothing), or a JSON body registering a `uri` (https://, s3:// or gs:// under
    PLAIT_DATASET_URI_PREFIXES, or a path under PLAIT_DATASET_FILE_ROOTS)."""
    async with ctx.db.read() as session:
        await registry.get_dataset(session, name)  # 404 before a byte of the body is read
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        new = await _receive_file(ctx, name, request)
    else:
        new = await _registered(ctx, request)
    try:
        row = await registry.add_version(ctx.db, name, new, who, who.id)
    except BaseException:
        if new.stored_key is not None:
            await ctx.artifacts.delete_dataset(new.stored_key)
        raise
    return version_out(row, name, who.username)


async def _registered(ctx: Context, request: Request) -> NewVersion:
    try:
        body = VersionRegister.model_validate_json(await request.body())
    except ValidationError as exc:
        raise InvalidInput(from_pydantic(exc.errors(include_url=False))) from None
    gt = body.ground_truth_uri
    return NewVersion(
        uri=checked_uri(body.uri, ctx.settings),
        ground_truth_uri=checked_uri(gt, ctx.settings, "ground_truth_uri") if gt else None,
        size=body.size, checksum=_hex(body.checksum), meta=body.metadata,
        tags=tuple(body.tags),
    )  # fmt: skip


def _hex(checksum: str | None) -> str | None:
    return checksum.lower().removeprefix("sha256:") if checksum else None


async def _receive_file(ctx: Context, name: str, request: Request) -> NewVersion:
    upload = Upload.of(request.headers["content-type"], ctx.settings.dataset_max_bytes)
    staged = _Staged(ctx, name)
    try:
        size = await staged.put(upload, request.stream())
    except ClientDisconnect:
        raise InvalidInput([FieldError(("body", "file"), "the upload was cut off")]) from None
    try:
        fields = _upload_fields(ctx, upload)
    except InvalidInput:
        await ctx.artifacts.delete_dataset(staged.key)
        raise
    columns = csv_columns(staged.filename, bytes(upload.head))
    meta = {**fields.pop("metadata"), **({"columns": columns} if columns else {})}
    return NewVersion(stored_key=staged.key, filename=staged.filename, size=size,
                      checksum=upload.sha256, meta=meta, **fields)  # fmt: skip


class _Staged:
    """The file goes straight to its final key: `datasets/<name>/<random>/<filename>`; the
    filename is known once the part's headers are read, so the key is made then."""

    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx, self.name = ctx, name
        self.key = ""
        self.filename = ""

    async def put(self, upload: Upload, body: AsyncIterator[bytes]) -> int:
        chunks = upload.file_chunks(body)
        first = await anext(chunks, None)  # the file part's headers are read by now
        self.filename = _filename(upload.filename)
        self.key = dataset_key(self.name, secrets.token_hex(16), self.filename)
        return await self.ctx.artifacts.put_dataset(self.key, _prepend(first, chunks))


async def _prepend(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is not None:
        yield first
    async for chunk in rest:
        yield chunk


def _filename(given: str | None) -> str:
    """The upload's file name, as a single safe path part (folders dropped)."""
    base = (given or "").replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "").strip()
    if base in ("", ".", ".."):
        return "data"
    return base[-FILENAME_MAX:]


def _upload_fields(ctx: Context, upload: Upload) -> dict[str, Any]:
    fields = upload.fields
    gt = fields.get("ground_truth_uri", "").strip()
    tags = [t.strip() for t in fields.get("tags", "").split(",") if t.strip()]
    meta = _metadata(fields.get("metadata") or "{}")
    try:
        checked = DatasetPatch.model_validate({"tags": tags})
    except ValidationError as exc:
        found = from_pydantic(exc.errors(include_url=False))
        raise InvalidInput([FieldError(("body", *e.loc), e.msg, e.type) for e in found]) from None
    return {"ground_truth_uri": checked_uri(gt, ctx.settings, "ground_truth_uri") if gt else None,
            "tags": tuple(checked.tags or ()), "metadata": meta}  # fmt: skip


def _metadata(raw: str) -> dict[str, Any]:
    """A form's `metadata` field: a JSON object, not too deep, without NUL (which no
    database stores)."""
    meta = None
    if not bounded.text_too_deep(raw.encode()) and "\\u0000" not in raw and "\x00" not in raw:
        with contextlib.suppress(ValueError):
            meta = json.loads(raw)
    if not isinstance(meta, dict):
        message = f"must be a JSON object, nested at most {bounded.MAX_DEPTH} deep, without NUL"
        raise InvalidInput([FieldError(("body", "metadata"), message)])
    return meta


async def _version(ctx: Context, name: str, version: int) -> tuple[DatasetVersion, str | None]:
    async with ctx.db.read() as session:
        ds = await registry.get_dataset(session, name)
        row = await registry.get_version(session, ds, version)
        return row, await _creator(session, row.created_by)


@router.get(VERSIONS + "/{version}", response_model=VersionOut)
async def get_version(name: DatasetName, version: VersionNo, who: Viewer, ctx: Ctx) -> Any:
    row, creator = await _version(ctx, name, version)
    return version_out(row, name, creator)


@router.get(
    VERSIONS + "/{version}/download",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
        **errors(409),
    },
)
async def download_version(
    name: DatasetName, version: VersionNo, who: Viewer, ctx: Ctx
) -> Response:
    """The stored file, streamed. A version registered by URI is not stored here (409)."""
    row, _ = await _version(ctx, name, version)
    if row.stored_key is None or row.filename is None:
        raise Conflict(f"version {version} of {name!r} is registered at {row.uri}, not stored")
    chunks = ctx.artifacts.open_dataset(row.stored_key)
    try:
        first = await anext(chunks, b"")  # a missing file is a 404, not a cut-off 200
    except NotFound:
        raise NotFound(f"version {version} of {name!r} is no longer stored") from None
    media = mimetypes.guess_type(row.filename)[0] or "application/octet-stream"
    headers = {
        "Content-Disposition": f"attachment; filename*=utf-8''{quote(row.filename, safe='')}"
    }
    if row.size is not None:
        headers["Content-Length"] = str(row.size)
    return StreamingResponse(_prepend(first, chunks), media_type=media, headers=headers)


@router.get(VERSIONS + "/{version}/lineage", response_model=list[LineageOut])
async def version_lineage(name: DatasetName, version: VersionNo, who: Viewer, ctx: Ctx) -> Any:
    """The task attempts that read or wrote this version, oldest first."""
    async with ctx.db.read() as session:
        row = await registry.get_version(
            session, await registry.get_dataset(session, name), version
        )
        return await registry.version_lineage(session, row)


@router.get("/api/v1/runs/{run_id}/datasets", response_model=list[RunDatasetOut])
async def run_datasets(run_id: IdPath, who: Viewer, ctx: Ctx) -> Any:
    """The dataset versions the run's tasks read or wrote, oldest first."""
    async with ctx.db.read() as session:
        await get_run(session, run_id)
        return await registry.run_lineage(session, run_id)
