"""/api/v1/exec/attempts/{id}/datasets: a remote worker answers its tasks' dataset requests
(plait.dataset, plait.log_dataset) through these, with the worker token that claimed the
attempt: resolve a version (the read is recorded as lineage), download its bytes into the
worker's own cache, and upload a file a task logged as a new version (lineage "wrote")."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from plait.api.deps import Ctx, WorkerToken
from plait.api.exec import RAW_BODY, AttemptId, _running, claimed_attempt
from plait.api.inputs import Digits
from plait.api.openapi import errors
from plait.datasets import registry
from plait.datasets.broker import Resolved
from plait.datasets.server import ServerSource
from plait.errors import FieldError, InvalidInput, PayloadTooLarge
from plait.executors.base import Dispatch
from plait.executors.reports import DatasetLog
from plait.workflows.spec import NAME_MAX, NAME_PATTERN

router = APIRouter(prefix="/api/v1/exec", tags=["exec"])
DatasetName = Annotated[str, Path(alias="dataset", max_length=NAME_MAX, pattern=NAME_PATTERN)]
VersionNo = Annotated[int, Path(ge=1, le=2**31 - 1), Digits]
BASE = "/attempts/{attempt_id}/datasets"
# The description, tags and metadata of a logged file, as base64url of a JSON object: in the
# query (the body is the file), so bounded to keep the request line short.
META_MAX = 8000
ABOUT = "base64url of a JSON object with `description`, `tags` and `metadata` (optional)."


class ResolveIn(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(max_length=NAME_MAX, pattern=NAME_PATTERN)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class ResolvedOut(BaseModel):
    version_id: int
    name: str
    version: int
    filename: str
    checksum: str | None
    stored: bool


class LoggedOut(BaseModel):
    name: str
    version: int


async def _job(ctx: Ctx, who: WorkerToken, attempt_id: int) -> Dispatch:
    """The running attempt this token claimed, as the server's own source takes it."""
    async with ctx.db.read() as session:
        attempt = await claimed_attempt(session, who, attempt_id)
        _running(attempt)
    return Dispatch(attempt.id, attempt.run_id, "", attempt.task_key, attempt.attempt, "", "")


def _source(ctx: Ctx) -> ServerSource:
    return ServerSource(ctx.db, ctx.artifacts, ctx.settings)


@router.post(
    "/attempts/{attempt_id}/resolve-dataset", response_model=ResolvedOut, responses=errors(409)
)
async def resolve(attempt_id: AttemptId, body: ResolveIn, who: WorkerToken, ctx: Ctx) -> Any:
    """The version a task asked for (the newest when `version` is null); the read is
    recorded for the attempt."""
    found = await _source(ctx).resolve(await _job(ctx, who, attempt_id), body.name, body.version)
    return {"version_id": found.version_id, "name": found.name, "version": found.version,
            "filename": found.filename, "checksum": found.checksum,
            "stored": found.stored_key is not None}  # fmt: skip


@router.get(
    f"{BASE}/{{dataset}}/versions/{{version}}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                          "format": "binary"}}}},
               **errors(409)},
)  # fmt: skip
async def download(
    attempt_id: AttemptId, name: DatasetName, version: VersionNo, who: WorkerToken, ctx: Ctx
) -> Response:
    """The version's bytes: a stored file, or what its registered URI holds (fetched by the
    server, which has the credentials a worker does not)."""
    await _job(ctx, who, attempt_id)
    async with ctx.db.read() as session:
        row = await registry.get_version(
            session, await registry.get_dataset(session, name), version
        )
    found = Resolved(row.id, name, row.version, row.filename or "data", row.checksum,
                     row.stored_key, row.uri)  # fmt: skip
    return StreamingResponse(_source(ctx).fetch(found), media_type="application/octet-stream")


@router.put(
    f"{BASE}/{{dataset}}",
    status_code=status.HTTP_201_CREATED,
    response_model=LoggedOut,
    openapi_extra=RAW_BODY,
    responses=errors(409, 413),
)
async def log_dataset(
    attempt_id: AttemptId,
    name: DatasetName,
    request: Request,
    who: WorkerToken,
    ctx: Ctx,
    filename: Annotated[str, Query(min_length=1, max_length=255, pattern=r"^[^/\x00]+$")],
    kind: Annotated[str, Query(max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")] = "tabular",
    about: Annotated[
        str, Query(max_length=META_MAX, pattern=r"^[A-Za-z0-9_-]*={0,2}$", description=ABOUT)
    ] = "",
) -> Any:
    """Keep the body (raw bytes, streamed; at most PLAIT_DATASET_MAX_BYTES) as the next
    version of the dataset, written by the attempt (made on its first version)."""
    job = await _job(ctx, who, attempt_id)
    if filename in (".", ".."):
        raise InvalidInput([FieldError(("query", "filename"), "is not a file name")])
    try:
        fields = json.loads(base64.urlsafe_b64decode(about)) if about else {}
        ask = DatasetLog(attempt_id=attempt_id, id="remote", name=name, path=filename,
                         kind=kind, **fields)  # fmt: skip
    except (ValidationError, ValueError, TypeError) as exc:
        raise InvalidInput([FieldError(("query", "about"), str(exc)[:300])]) from None
    number = await _source(ctx).log(
        job, ask, filename, _limited(request, ctx.settings.dataset_max_bytes)
    )
    return {"name": name, "version": number}


async def _limited(request: Request, limit: int) -> Any:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"a dataset file holds at most {limit} bytes")
        yield chunk
