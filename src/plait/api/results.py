"""What runs leave behind: task logs (read or streamed live), metrics and artifacts."""

from __future__ import annotations

import asyncio
import json
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.api.deps import Context, Ctx, Viewer
from plait.api.inputs import Digits, IdPath
from plait.api.zipstream import zipped_store
from plait.db.models import Artifact, Metric, TaskAttempt
from plait.errors import NotFound, did_you_mean
from plait.orchestration import runs
from plait.orchestration.states import ATTEMPT_FINISHED, AttemptStatus
from plait.storage.logs import MAX_OFFSET
from plait.workflows.spec import Name

router = APIRouter(prefix="/api/v1/runs/{run_id}", tags=["results"])
RunId = IdPath
Key = Annotated[Name, Path(description="A task key.")]
AttemptNo = Annotated[int | None, Query(ge=1, le=1000, description="Default: the latest."), Digits]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Byte offset to read from."), Digits]
CHUNK = 256 * 1024
POLL_SECONDS = 0.1
DATABASE_POLL_SECONDS = 0.3  # each round is a query: a little slower than a stat


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
        latest = await runs.latest_attempts(session, run_id)
        hint = "" if key in latest else did_you_mean(key, latest)
        raise NotFound(
            f"run {run_id} has no task {key!r}" + (f" attempt {number}" if number else "") + hint
        )
    return attempt


# What kept an upstream task from succeeding, as the reason a task downstream never ran.
_UPSTREAM = {
    AttemptStatus.failed: "failed",
    AttemptStatus.upstream_failed: "did not run either",
    AttemptStatus.cancelled: "was cancelled",
    AttemptStatus.skipped: "was skipped",
}

_NOT_STARTED: dict[str, str] = {
    AttemptStatus.cancelled: "it was cancelled before it started",
    AttemptStatus.skipped: "it was skipped",
    AttemptStatus.failed: "it was lost before it started",  # a server died, dispatch failed
}


async def _never_ran(session: AsyncSession, run_id: int, attempt: TaskAttempt) -> str:
    """Why a finished attempt that never started has no log, in words."""
    said = f"task {attempt.task_key!r} never ran in run {run_id}"
    if attempt.status != AttemptStatus.upstream_failed:
        how = _NOT_STARTED.get(attempt.status, f"it ended {attempt.status} before it started")
        return f"{said}: {how}" + (f" ({attempt.error})" if attempt.error else "")
    spec = await runs.version_spec(session, await runs.get_run(session, run_id))
    task: dict[str, Any] = next(
        (t for t in spec.get("tasks", []) if t.get("key") == attempt.task_key), {}
    )
    latest = await runs.latest_attempts(session, run_id)
    reasons = [
        f"{dep!r} {_UPSTREAM[AttemptStatus(latest[dep].status)]}"
        for dep in task.get("depends_on", [])
        if dep in latest and latest[dep].status in _UPSTREAM
    ]
    return f"{said}: it was skipped because " + (" and ".join(reasons) or "a task upstream failed")


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
    ended and nothing is left to read. A task that never ran is 404, saying why."""
    async with ctx.db.read() as session:
        row = await _attempt(session, run_id, key, attempt)
    ref = _ref(row)
    finished = row.status in ATTEMPT_FINISHED
    if finished and row.started_at is None and not await ctx.logs.size(ref):
        async with ctx.db.read() as session:
            raise NotFound(await _never_ran(session, run_id, row))
    content, used = _text(await ctx.logs.read(ref, offset, CHUNK), final=finished)
    done = finished and offset + used >= await ctx.logs.size(ref)
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
    return StreamingResponse(
        _follow(ctx, row.id, _ref(row), offset),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _follow(ctx: Context, attempt_id: int, ref: _Ref, offset: int) -> AsyncIterator[str]:
    """Follows the log store, not a file: any server can stream any attempt's output. Each
    round asks the store for the log's size (a stat, or one indexed row) and reads only
    when it grew."""
    poll = POLL_SECONDS if ctx.logs.name == "local" else DATABASE_POLL_SECONDS
    while True:
        async with ctx.db.read() as session:
            status = await session.scalar(
                select(TaskAttempt.status).where(TaskAttempt.id == attempt_id)
            )
        finished = status is None or status in ATTEMPT_FINISHED
        # Read after the status: once the attempt has ended, its log is complete.
        size = await ctx.logs.size(ref)
        if size > offset:
            data = await ctx.logs.read(ref, offset, min(CHUNK, size - offset))
            text, used = _text(data, final=finished)
            if used:
                yield f"event: log\ndata: {json.dumps({'offset': offset, 'text': text})}\n\n"
                offset += used
                continue
        if finished:
            yield f"event: end\ndata: {json.dumps({'status': status, 'offset': offset})}\n\n"
            return
        await asyncio.sleep(poll)


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
    response_class=StreamingResponse,
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
    try:
        members = await ctx.artifacts.members(artifact.path)
    except NotFound:
        raise NotFound(f"artifact {artifact_id} is no longer stored") from None
    if members is not None:
        return StreamingResponse(
            zipped_store(ctx.artifacts, artifact.path, members),
            media_type="application/zip",
            headers={"Content-Disposition": _attachment(f"{artifact.name}.zip")},
        )
    media_type = mimetypes.guess_type(artifact.name)[0] or "application/octet-stream"
    return StreamingResponse(
        ctx.artifacts.open(artifact.path),
        media_type=media_type,
        headers={"Content-Disposition": _attachment(artifact.name)},
    )


@dataclass(frozen=True)
class _Ref:
    run_id: int
    task_key: str
    attempt: int


def _ref(row: TaskAttempt) -> _Ref:
    return _Ref(row.run_id, row.task_key, row.attempt)


def _attachment(filename: str) -> str:
    return f"attachment; filename*=utf-8''{quote(filename, safe='')}"
