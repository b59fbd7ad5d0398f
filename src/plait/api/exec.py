"""/api/v1/exec: the execution API that remote workers call with a worker token.

A worker claims an attempt (queued -> running, bound to its token), then reports on it,
uploads its log and artifacts, and heartbeats. Only the token that claimed an attempt may
speak for it. Every route here is fenced to worker tokens (see `plait.auth.roles.fence`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import storage
from plait.api.deps import Context, Ctx, WorkerToken
from plait.api.inputs import Digits, IdField, IdPath
from plait.api.openapi import errors
from plait.auth.roles import Principal
from plait.db.models import Artifact, Run, TaskAttempt
from plait.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
)
from plait.events import outbox
from plait.executors.base import AttemptRef, Dispatch
from plait.executors.limits import (
    MAX_LOG_CHUNK,
    MAX_NAME,
    MAX_OUTPUT_KEYS,
    MAX_RECORDS_PER_BATCH,
    MAX_SIZE,
)
from plait.executors.reports import (
    ErrorReport,
    Exited,
    Heartbeat,
    MetricReport,
    ModelReport,
    Output,
    ProgressReport,
    Report,
)
from plait.models.registry import NotAModelFolder, stored_files
from plait.orchestration import apply, workers
from plait.orchestration.states import ATTEMPT_FINISHED, AttemptStatus
from plait.storage.artifacts import artifact_key
from plait.workflows.spec import Name

log = logging.getLogger("plait.exec")
router = APIRouter(prefix="/api/v1/exec", tags=["exec"])
A = AttemptStatus
AttemptId = IdPath
WorkerName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
RAW_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


# --- who may speak for an attempt ----------------------------------------------------------


async def claimed_attempt(session: AsyncSession, who: Principal, attempt_id: int) -> TaskAttempt:
    """The attempt, if this worker token claimed it: 404 when there is none, 403 when it is
    not (yet, or any more) this token's."""
    attempt = await session.get(TaskAttempt, attempt_id)
    if attempt is None:
        raise NotFound(f"no attempt {attempt_id}")
    if attempt.worker_token_id is None or attempt.worker_token_id != who.api_token_id:
        raise PermissionDenied(f"attempt {attempt_id} was not claimed with this worker token")
    return attempt


def _ref(attempt: TaskAttempt) -> AttemptRef:
    return AttemptRef(attempt.id, attempt.run_id, attempt.task_key, attempt.attempt)


# --- claim ---------------------------------------------------------------------------------


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: WorkerName = Field(description="host:pid of the worker process.")
    pid: int | None = Field(default=None, gt=0, lt=2**31, description="The task's process.")


class ClaimOut(BaseModel):
    job: dict[str, Any] = Field(description="The Dispatch: code, env, params, inputs.")
    heartbeat_seconds: float = Field(description="How often to heartbeat while it runs.")


@router.post("/attempts/{attempt_id}/claim", response_model=ClaimOut, responses=errors(409))
async def claim_attempt(attempt_id: AttemptId, body: ClaimIn, who: WorkerToken, ctx: Ctx) -> Any:
    """Start the attempt (queued -> running), bound to this token: only it may report for
    the attempt from now on. 409 `attempt-not-queued` when it was cancelled, started
    elsewhere or has ended. The same claim again (a retry whose answer was lost) gets the
    job again."""
    claimed = await apply.claim(ctx.db, ctx.plans, attempt_id, body.worker, body.pid,
                                worker_token_id=who.api_token_id)  # fmt: skip
    job = claimed.job or await _claimed_before(ctx, who, attempt_id, body.worker)
    if job is None:
        if claimed.reason == "no such attempt":
            raise NotFound(f"no attempt {attempt_id}")
        raise Conflict(f"attempt {attempt_id} cannot be claimed: {claimed.reason}",
                       code="attempt-not-queued", reason=claimed.reason)  # fmt: skip
    return {"job": job.to_json(), "heartbeat_seconds": ctx.settings.heartbeat_seconds}


async def _claimed_before(
    ctx: Context, who: Principal, attempt_id: int, worker: str
) -> Dispatch | None:
    async with ctx.db.read() as session:
        attempt = await session.get(TaskAttempt, attempt_id)
        mine = attempt is not None and attempt.worker_token_id == who.api_token_id
        if not mine or attempt is None or attempt.status != A.running or attempt.worker != worker:
            return None
        run = await session.get(Run, attempt.run_id)
        assert run is not None
        return await apply.build_dispatch(session, ctx.plans, run, attempt)


# --- reports -------------------------------------------------------------------------------

# What a worker reports here; `started` is the claim, logs and artifacts have their routes.
RemoteReport = Annotated[
    Heartbeat | Output | MetricReport | ProgressReport | ErrorReport | ModelReport | Exited,
    Field(discriminator="type"),
]
_REMOTE: TypeAdapter[RemoteReport] = TypeAdapter(RemoteReport)


class ReportsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: list[dict[str, Any]] = Field(
        max_length=MAX_RECORDS_PER_BATCH,
        description="Reports of this attempt, in order: heartbeat, output, metric, progress, "
        "error, model, exited (each as in plait.executors.reports; `attempt_id` may be left "
        "out). A model's folder is uploaded as an artifact first; its files are hashed here.",
    )


class ReportsOut(BaseModel):
    cancel: bool = Field(
        description="Stop the task and report exited with reason `cancelled`: its run is "
        "being cancelled, or the server no longer counts it as running."
    )


@router.post("/attempts/{attempt_id}/reports", response_model=ReportsOut, responses=errors(409))
async def post_reports(attempt_id: AttemptId, body: ReportsIn, who: WorkerToken, ctx: Ctx) -> Any:
    """Apply the reports as the local executor's are applied. 409 `final-report-twice` for
    an `exited` of an attempt that has already ended."""
    async with ctx.db.read() as session:
        attempt = await claimed_attempt(session, who, attempt_id)
        reports = _parse(attempt, body.reports)
        ref = _ref(attempt)
    kept: list[Report] = []
    for report in reports:
        hashed = await _hashed(ctx, ref, report) if isinstance(report, ModelReport) else report
        if hashed is not None:
            kept.append(hashed)
    applied = await apply.apply_reports(ctx.db, ctx.plans, kept)
    if applied.broken:
        error = "lost: Plait could not record its reports (see the server log)"
        more = await apply.apply_reports(ctx.db, ctx.plans, [apply.lost(attempt_id, error)])
        applied.runs |= more.runs
    ctx.settled(applied.runs)
    if attempt_id in applied.final_twice:
        raise Conflict(f"attempt {attempt_id} has already ended", code="final-report-twice")
    return {"cancel": await _must_stop(ctx, attempt_id)}


async def _hashed(ctx: Context, ref: AttemptRef, report: ModelReport) -> ModelReport | None:
    """A model report with its folder's files as this server reads them from the store
    (whatever the worker said of them is dropped); None, and a note in the server's log,
    when its folder was not uploaded."""
    key = artifact_key(ref, report.artifact)
    try:
        files = await stored_files(ctx.artifacts, key)
    except NotAModelFolder as exc:
        log.warning("model %r of attempt %d not registered: %s", report.name, ref.attempt_id,
                    exc)  # fmt: skip
        return None
    return report.hashed(key, files)


def _parse(attempt: TaskAttempt, given: list[dict[str, Any]]) -> list[Report]:
    """The reports, each checked like a task's records; every fault named by its place."""
    reports: list[Report] = []
    faults: list[FieldError] = []
    keys = set(attempt.outputs)
    for i, data in enumerate(given):
        if data.get("attempt_id", attempt.id) != attempt.id:
            faults.append(FieldError(("reports", i, "attempt_id"), "is not this attempt"))
            continue
        try:
            report = _REMOTE.validate_python({**data, "attempt_id": attempt.id})
        except ValidationError as exc:
            faults += [_at(i, e) for e in exc.errors(include_url=False)]
            continue
        if isinstance(report, Output) and report.key not in keys:
            keys.add(report.key)
            if len(keys) > MAX_OUTPUT_KEYS:
                faults.append(
                    FieldError(("reports", i, "key"), f"more than {MAX_OUTPUT_KEYS} outputs")
                )
        reports.append(report)
    if faults:
        raise InvalidInput(faults)
    return reports


def _at(index: int, error: Any) -> FieldError:
    return FieldError(("reports", index, *error["loc"]), error["msg"], error["type"])


async def _must_stop(ctx: Context, attempt_id: int) -> bool:
    async with ctx.db.read() as session:
        row = (
            await session.execute(
                select(TaskAttempt.status, Run.cancel_requested_at)
                .join(Run, Run.id == TaskAttempt.run_id)
                .where(TaskAttempt.id == attempt_id)
            )
        ).one_or_none()
    if row is None or row[0] in ATTEMPT_FINISHED:
        return False  # nothing left to stop (it ended: this batch's exit, say)
    return row[0] != A.running or row[1] is not None


# --- heartbeat -----------------------------------------------------------------------------


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: WorkerName = Field(description="host:pid of the worker process.")
    queues: list[Name] = Field(default_factory=list, max_length=100)
    concurrency: int = Field(ge=1, le=10_000)
    running: list[IdField] = Field(
        default_factory=list, max_length=10_000, description="Ids of the attempts it runs."
    )


class HeartbeatOut(BaseModel):
    cancel: list[int] = Field(description="Attempts to stop (then report exited, cancelled).")


@router.post("/workers/heartbeat", response_model=HeartbeatOut)
async def heartbeat(body: HeartbeatIn, who: WorkerToken, ctx: Ctx) -> Any:
    """The worker is alive and runs `running`; answers which of them it must stop."""
    assert who.api_token_id is not None  # a worker is always an API token
    beat = workers.Beat(body.worker, body.queues, body.concurrency, body.running)
    try:
        async with ctx.db.write() as session:
            cancel = await workers.record(session, who.api_token_id, beat)
    except IntegrityError:  # its first beat, twice at once: the other inserted the row
        async with ctx.db.write() as session:
            cancel = await workers.record(session, who.api_token_id, beat)
    return {"cancel": cancel}


# --- log -----------------------------------------------------------------------------------


class LogOut(BaseModel):
    size: int = Field(description="The log's size after this chunk; the next chunk's offset.")


@router.put(
    "/attempts/{attempt_id}/log",
    response_model=LogOut,
    openapi_extra=RAW_BODY,
    responses=errors(409),
)
async def put_log(
    attempt_id: AttemptId,
    request: Request,
    who: WorkerToken,
    ctx: Ctx,
    offset: Annotated[int, Query(ge=0, le=2**40, description="Where the chunk starts."), Digits],
) -> Any:
    """Append raw bytes (at most 1 MiB) at `offset`, which must be the stored size; a chunk
    sent again (it lies within what is stored) is accepted and ignored, so a retry is safe.
    Otherwise 409 with the stored `size`."""
    data = await _bounded_body(request, MAX_LOG_CHUNK)
    async with ctx.db.read() as session:
        ref = _ref(await claimed_attempt(session, who, attempt_id))
    size = await storage.append_log(ctx.logs, ref, offset, data)
    if data and size == offset + len(data):  # new text: tell who follows the log
        async with ctx.db.write() as session:
            outbox.record(session, "log", run_id=ref.run_id, task_key=ref.task_key,
                          attempt=ref.attempt, offset=offset, size=size)  # fmt: skip
    return {"size": size}


async def _bounded_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"a chunk is at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# --- artifacts -----------------------------------------------------------------------------

ArtifactName = Annotated[
    str,
    Path(min_length=1, max_length=MAX_NAME, pattern=r"^[^/\x00]+$",
         description="The file's name, as plait.log_artifact() would keep it."),
]  # fmt: skip


Member = Annotated[
    str | None,
    Query(min_length=1, max_length=1024, pattern=r"^[^/\x00][^\x00]*$",
          description="A file of a folder artifact, by its path inside the folder."),
]  # fmt: skip


class ArtifactOut(BaseModel):
    name: str
    size: int


@router.put(
    "/attempts/{attempt_id}/artifacts/{name}",
    status_code=status.HTTP_201_CREATED,
    response_model=ArtifactOut,
    openapi_extra=RAW_BODY,
    responses=errors(409),
)
async def put_artifact(
    attempt_id: AttemptId, name: ArtifactName, request: Request, who: WorkerToken, ctx: Ctx,
    member: Member = None,
) -> Any:  # fmt: skip
    """Store a file the task logged (raw bytes, streamed) and record it with the attempt,
    as an artifact report would. The attempt must be running. With `member`, the file is
    that part of the folder artifact `name` (a model's folder is sent file by file)."""
    if name in (".", ".."):
        raise InvalidInput([FieldError(("path", "name"), "is not a file name")])
    if member is not None and any(p in ("", ".", "..") for p in member.split("/")):
        raise InvalidInput([FieldError(("query", "member"), "is not a relative file path")])
    async with ctx.db.read() as session:
        attempt = await claimed_attempt(session, who, attempt_id)
        _running(attempt)
        ref = _ref(attempt)
    if member is None:
        key, size = await storage.save_artifact(ctx.artifacts, ref, name, _limited(request))
    else:
        storage.save_artifact_name(name)
        size = await ctx.artifacts.put_stream(ref, f"{name}/{member}", _limited(request))
        key = artifact_key(ref, name)
    await record_artifact(ctx, who, ref, name, key, size, member is not None)
    return {"name": name, "size": size}


async def record_artifact(
    ctx: Context, who: Principal, ref: AttemptRef, name: str, key: str, size: int,
    part: bool = False,
) -> None:  # fmt: skip
    """The artifact's row, as an artifact report writes it; an upload sent again (a retry)
    replaces its file and row instead of adding a second one."""
    async with ctx.db.write() as session:
        _running(await claimed_attempt(session, who, ref.attempt_id))
        query = select(Artifact).where(
            Artifact.run_id == ref.run_id,
            Artifact.task_key == ref.task_key,
            Artifact.attempt == ref.attempt,
            Artifact.name == name,
        )
        row = (await session.execute(query.limit(1))).scalar()
        if row is None:
            session.add(Artifact(run_id=ref.run_id, task_key=ref.task_key, attempt=ref.attempt,
                                 name=name, path=key, size=size))  # fmt: skip
        else:  # a part of a folder adds to its size
            row.path, row.size = key, row.size + size if part else size


def _running(attempt: TaskAttempt) -> None:
    if attempt.status != A.running:
        raise Conflict(f"attempt {attempt.id} is {attempt.status}, not running",
                       code="attempt-not-running")  # fmt: skip


async def _limited(request: Request) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_SIZE:
            raise PayloadTooLarge(f"an artifact is at most {MAX_SIZE} bytes")
        yield chunk
