"""What runs leave behind: task logs (read or streamed live), metrics and artifacts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.api.deps import Context, Ctx, Viewer
from plait.api.inputs import Digits, IdPath
from plait.api.zipstream import real_path, zipped
from plait.db.models import Artifact, Metric, TaskAttempt
from plait.errors import NotFound
from plait.executors.layout import artifacts_dir, log_path
from plait.orchestration import runs
from plait.orchestration.states import ATTEMPT_FINISHED
from plait.workflows.spec import NAME_PATTERN

router = APIRouter(prefix="/api/v1/runs/{run_id}", tags=["results"])
RunId = IdPath
Key = Annotated[str, Path(max_length=100, pattern=NAME_PATTERN)]
AttemptNo = Annotated[int | None, Query(ge=1, le=1000, description="Default: the latest."), Digits]
# Bounded well below what a file system allows a seek to (ext4: 16 TiB); no log is that long.
MAX_OFFSET = 2**40
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Byte offset to read from."), Digits]
CHUNK = 256 * 1024
POLL_SECONDS = 0.1


class LogChunk(BaseModel):
    attempt: int
    offset: int
    next_offset: int
    content: str
    complete: bool


class MetricOut(BaseModel):
    task_key: str
    attempt: int
    key: str
    value: float
    step: int | None
    created_at: datetime


class ArtifactOut(BaseModel):
    id: int
    task_key: str
    attempt: int
    name: str
    size: int
    created_at: datetime


async def _attempt(session: AsyncSession, run_id: int, key: str, number: int | None) -> TaskAttempt:
    await runs.get_run(session, run_id)
    query = select(TaskAttempt).where(TaskAttempt.run_id == run_id, TaskAttempt.task_key == key)
    query = query.where(TaskAttempt.attempt == number) if number else query
    attempt = (await session.execute(query.order_by(TaskAttempt.attempt.desc()).limit(1))).scalar()
    if attempt is None:
        raise NotFound(
            f"run {run_id} has no task {key!r}" + (f" attempt {number}" if number else "")
        )
    return attempt


def _read(path: FilePath, offset: int, size: int = CHUNK) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(size)
    except (FileNotFoundError, OSError):  # OSError: an offset past what the file system allows
        return b""


def _text(data: bytes, final: bool) -> tuple[str, int]:
    """Decode a chunk of log; returns the text and how many bytes it used. While the task
    still writes, a character cut at the end of the chunk waits for its other bytes; bytes
    that are not UTF-8 at all become U+FFFD, so reading always moves on."""
    try:
        return data.decode("utf-8"), len(data)
    except UnicodeDecodeError as exc:
        cut_short = exc.reason == "unexpected end of data" and exc.end == len(data)
        if cut_short and not final:
            return data[: exc.start].decode("utf-8"), exc.start
        return data.decode("utf-8", "replace"), len(data)


@router.get("/tasks/{key}/logs", response_model=LogChunk)
async def read_log(
    run_id: RunId, key: Key, who: Viewer, ctx: Ctx, attempt: AttemptNo = None, offset: Offset = 0
) -> Any:
    """Up to 256 KiB of an attempt's output from `offset`; `complete` once the attempt has
    ended and nothing is left to read."""
    async with ctx.db.read() as session:
        row = await _attempt(session, run_id, key, attempt)
    path = log_path(ctx.settings.data_dir, run_id, key, row.attempt)
    finished = row.status in ATTEMPT_FINISHED
    content, used = _text(await asyncio.to_thread(_read, path, offset), final=finished)
    done = finished and not await asyncio.to_thread(_read, path, offset + used, 1)
    return LogChunk(attempt=row.attempt, offset=offset, next_offset=offset + used,
                    content=content, complete=done)  # fmt: skip


@router.get(
    "/tasks/{key}/logs/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream_log(
    run_id: RunId, key: Key, who: Viewer, ctx: Ctx, attempt: AttemptNo = None, offset: Offset = 0
) -> StreamingResponse:
    """Server-sent events: `log` events ({"offset", "text"}) as the attempt writes, then one
    `end` event ({"status"}) when it has ended and everything was sent."""
    async with ctx.db.read() as session:
        row = await _attempt(session, run_id, key, attempt)
    path = log_path(ctx.settings.data_dir, run_id, key, row.attempt)
    return StreamingResponse(
        _follow(ctx, row.id, path, offset),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _follow(ctx: Context, attempt_id: int, path: FilePath, offset: int) -> AsyncIterator[str]:
    while True:
        async with ctx.db.read() as session:
            status = await session.scalar(
                select(TaskAttempt.status).where(TaskAttempt.id == attempt_id)
            )
        finished = status is None or status in ATTEMPT_FINISHED
        # Read after the status: once the attempt has ended, its log is complete.
        text, used = _text(await asyncio.to_thread(_read, path, offset), final=finished)
        if used:
            yield f"event: log\ndata: {json.dumps({'offset': offset, 'text': text})}\n\n"
            offset += used
            continue
        if finished:
            yield f"event: end\ndata: {json.dumps({'status': status, 'offset': offset})}\n\n"
            return
        await asyncio.sleep(POLL_SECONDS)


@router.get("/metrics", response_model=list[MetricOut])
async def list_metrics(
    run_id: RunId,
    who: Viewer,
    ctx: Ctx,
    key: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    """Every metric the run's tasks logged, by key then step."""
    query = select(Metric).where(Metric.run_id == run_id)
    if key is not None:
        query = query.where(Metric.key == key)
    async with ctx.db.read() as session:
        await runs.get_run(session, run_id)
        rows = await session.execute(query.order_by(Metric.key, Metric.step, Metric.id))
        return list(rows.scalars())


@router.get("/artifacts", response_model=list[ArtifactOut])
async def list_artifacts(run_id: RunId, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        await runs.get_run(session, run_id)
        rows = await session.execute(
            select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id)
        )
        return list(rows.scalars())


@router.get(
    "/artifacts/{artifact_id}",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file; a folder comes as a zip of its files.",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def download_artifact(run_id: RunId, artifact_id: IdPath, who: Viewer, ctx: Ctx) -> Response:
    async with ctx.db.read() as session:
        artifact = await session.get(Artifact, artifact_id)
    if artifact is None or artifact.run_id != run_id:
        raise NotFound(f"run {run_id} has no artifact {artifact_id}")
    folder = artifacts_dir(ctx.settings.data_dir, run_id, artifact.task_key, artifact.attempt)
    path = await asyncio.to_thread(_stored, folder, artifact.path)
    if path is None:
        raise NotFound(f"artifact {artifact_id} is no longer on disk")
    if path.is_dir():
        return StreamingResponse(
            zipped(path, folder.resolve()),
            media_type="application/zip",
            headers={"Content-Disposition": _attachment(f"{artifact.name}.zip")},
        )
    return FileResponse(path, filename=artifact.name)


def _stored(folder: FilePath, stored: str) -> FilePath | None:
    """The artifact's file or folder, if it lies inside its own attempt's artifacts folder.

    Resolved first: a task writes that folder, so a link there may point anywhere (the server's
    key, another run's artifacts); only what really lies inside the attempt's folder is served.
    """
    path = real_path(FilePath(stored))
    if path is None or not path.is_relative_to(folder.resolve()):
        return None
    return path if path.is_file() or path.is_dir() else None


def _attachment(filename: str) -> str:
    return f"attachment; filename*=utf-8''{quote(filename, safe='')}"
