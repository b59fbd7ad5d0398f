"""The forwarder: sends each due `tracking_exports` row what is new since its cursor, off
the run's path (pattern of `notifications.worker.DeliveryWorker`).

Each poll reads the due rows (a read: no write lock while idle), claims some with a
compare-and-set on `attempts` and a lease in `next_attempt_at`, and forwards them as tasks
of their own, at most `tracking_parallel` at once, each adapter call in a thread. A forward
sends params once, metrics by id watermark in batches, artifacts once, and the final status
at the end; the cursor is kept as it goes, so a failure resends only what was not sent.

A failed forward is retried after a backoff that doubles with jitter up to
`tracking_retry_max_seconds`, forever: a tracking server that is down loses nothing, and
runs never wait for it. A server that dies mid-forward leaves the row to be claimed again
when its lease ends (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import tempfile
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import Artifact, Metric, Run, TrackingExport, Workflow
from plait.settings import Settings
from plait.storage import artifact_store
from plait.storage.artifacts import ArtifactStore
from plait.tracking import registry
from plait.tracking.base import BATCH, Adapter, ArtifactFile, Point, RunInfo
from plait.tracking.store import DUE, PENDING, RETRYING, SYNCED

log = logging.getLogger("plait.tracking")
POLL_SECONDS = 0.5
LEASE_MARGIN = 30.0  # beyond the forward timeout, before a claimed row counts as lost
MAX_ERROR = 2000


@dataclass(frozen=True)
class Job:
    export_id: int
    attempt: int  # the row's `attempts` after our claim: our claim stands while it is equal
    failures: int
    run_id: int
    adapter: str


@dataclass
class Progress:
    """What a forward has sent so far: kept on the row whatever its outcome."""

    cursor: dict[str, Any]
    external_id: str | None
    final: bool = field(default=False)  # the run had ended and its end was told


def redact(error: str, settings: Settings) -> str:
    """The error without the secrets of the settings: a client's message may quote the
    tracking URI, credentials and all, and the error is shown to every viewer."""
    uri = settings.mlflow_tracking_uri.get_secret_value() if settings.mlflow_tracking_uri else ""
    parts = urlsplit(uri)
    for secret in (uri, parts.password, parts.username):
        if secret:
            error = error.replace(secret, "***")
    return error


def backoff(settings: Settings, failures: int) -> float:
    """Seconds before the try after `failures` failed ones; ±20 % spreads them out."""
    base = settings.tracking_retry_seconds * 2 ** min(failures - 1, 30)
    return float(min(settings.tracking_retry_max_seconds, base * random.uniform(0.8, 1.2)))


class Forwarder:
    def __init__(self, db: Database, settings: Settings, store: ArtifactStore | None = None):
        self.db = db
        self.settings = settings
        self.store = store or artifact_store(settings)
        self._task: asyncio.Task[None] | None = None
        self._sending: dict[asyncio.Task[None], int] = {}  # forward -> its row

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="plait-tracking")

    async def stop(self) -> None:
        """Stop now. Forwards in flight are cancelled; their lease brings them back later."""
        tasks = [t for t in (self._task, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                free = self.settings.tracking_parallel - len(self._sending)
                for job in await self.claim(free, busy=set(self._sending.values())):
                    task = asyncio.create_task(self.forward(job), name=f"tracking-{job.export_id}")
                    self._sending[task] = job.export_id
                    task.add_done_callback(self._sending.pop)
            except Exception:  # the loop must outlive one bad poll; the next one retries
                log.exception("tracking poll failed")
            await asyncio.sleep(POLL_SECONDS)

    async def run_once(self) -> int:
        """One poll, waiting for its forwards: for tests and one-shot use."""
        jobs = await self.claim(self.settings.tracking_parallel)
        await asyncio.gather(*(self.forward(job) for job in jobs))
        return len(jobs)

    async def claim(self, limit: int, busy: AbstractSet[int] = frozenset()) -> list[Job]:
        """Due rows, but not those this forwarder is sending now: an event made such a row
        due again, and a second forward beside the first could write its run twice."""
        if limit <= 0:
            return []
        now = datetime.now(UTC)
        due = (
            select(TrackingExport)
            .where(
                TrackingExport.status.in_(DUE),
                TrackingExport.next_attempt_at <= now,
                TrackingExport.id.not_in(busy),
            )
            .order_by(TrackingExport.next_attempt_at, TrackingExport.id)
            .limit(limit)
        )
        async with self.db.read() as session:
            rows = list((await session.execute(due)).scalars())
        if not rows:
            return []
        lease = now + timedelta(seconds=self.settings.tracking_timeout_seconds + LEASE_MARGIN)
        async with self.db.write() as session:
            return [
                Job(r.id, r.attempts + 1, r.failures, r.run_id, r.adapter)
                for r in rows
                if await _claim_one(session, r, now, lease)
            ]

    async def forward(self, job: Job) -> None:
        """Send what is new, and record how it went. Never raises but on cancel."""
        try:
            progress, values = await self._attempt(job)
            await self._record(job, progress, values)
        except Exception:  # e.g. the database went away: the lease brings the job back
            log.exception("recording tracking row %s failed", job.export_id)

    async def _attempt(self, job: Job) -> tuple[Progress | None, dict[str, Any]]:
        now = datetime.now(UTC)
        progress: Progress | None = None
        try:
            async with self.db.read() as session:
                row = await session.get(TrackingExport, job.export_id)
                run = await _run_info(session, job.run_id)
            if row is None or run is None:
                return None, {}  # the run was deleted: its row went with it
            progress = Progress(dict(row.cursor), row.external_id)
            async with asyncio.timeout(self.settings.tracking_timeout_seconds):
                await self._send(job.adapter, run, progress)
        except Exception as exc:
            failures = job.failures + 1
            later = now + timedelta(seconds=backoff(self.settings, failures))
            error = redact(f"{type(exc).__name__}: {exc}", self.settings)[:MAX_ERROR]
            log.warning("forwarding run %s to %s failed (try %s): %s",
                        job.run_id, job.adapter, failures, error)  # fmt: skip
            return progress, {"status": RETRYING, "error": error, "failures": failures,
                              "next_attempt_at": later}  # fmt: skip
        if progress.final:
            return progress, {"status": SYNCED, "error": None, "failures": 0,
                              "next_attempt_at": None}  # fmt: skip
        # A running run: live adapters look again soon; the others wait for its end (the
        # outbox handler makes the row due then).
        later = now + timedelta(seconds=self.settings.tracking_sync_seconds)
        return progress, {"status": PENDING, "error": None, "failures": 0,
                          "next_attempt_at": later if _is_live(job.adapter) else None}  # fmt: skip

    async def _send(self, name: str, run: RunInfo, progress: Progress) -> None:
        adapter = await asyncio.to_thread(registry.create, name, self.settings)
        if not adapter.live:
            if not run.final:
                return
            if progress.cursor.get("ended") == _ending(run):
                progress.final = True  # this ending was written in full already: not again
                return
            progress.cursor = {}  # it keeps nothing between forwards: the whole run each time
        external_id = await asyncio.to_thread(adapter.start, run, progress.external_id)
        progress.external_id = external_id
        cursor = progress.cursor
        if not cursor.get("params"):
            await asyncio.to_thread(adapter.log_params, external_id, run.params)
            cursor["params"] = True
        await self._metrics(adapter, external_id, run.run_id, cursor)
        if not run.final:
            return
        # Artifacts are complete only at the end. Their local copies stay until the adapter
        # has finished: some (W&B) write everything then.
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="plait-tracking-"))
        try:
            await self._artifacts(adapter, external_id, run.run_id, cursor, folder)
            if cursor.get("final") != run.status or not adapter.live:
                await asyncio.to_thread(adapter.finish, external_id, run)
                cursor["final"] = run.status
                cursor["ended"] = _ending(run)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        progress.final = True

    async def _metrics(
        self, adapter: Adapter, external_id: str, run_id: int, cursor: dict[str, Any]
    ) -> None:
        while True:
            after = int(cursor.get("metric_id", 0))
            async with self.db.read() as session:
                rows = (
                    await session.execute(
                        select(Metric.id, Metric.key, Metric.value, Metric.step,
                               Metric.created_at)
                        .where(Metric.run_id == run_id, Metric.id > after)
                        .order_by(Metric.id)
                        .limit(BATCH)
                    )
                ).all()  # fmt: skip
            if not rows:
                return
            points = [
                Point(key, value, step or 0, int(at.timestamp() * 1000))
                for _id, key, value, step, at in rows
            ]
            await asyncio.to_thread(adapter.log_metrics, external_id, points)
            cursor["metric_id"] = rows[-1][0]

    async def _artifacts(
        self, adapter: Adapter, external_id: str, run_id: int, cursor: dict[str, Any],
        folder: Path,
    ) -> None:  # fmt: skip
        after = int(cursor.get("artifact_id", 0))
        async with self.db.read() as session:
            rows = list(
                (
                    await session.execute(
                        select(Artifact)
                        .where(Artifact.run_id == run_id, Artifact.id > after)
                        .order_by(Artifact.id)
                    )
                ).scalars()
            )
        if not rows:
            return
        files = [await self._fetch(row, folder / str(row.id)) for row in rows]
        await asyncio.to_thread(adapter.log_artifacts, external_id, files)
        cursor["artifact_id"] = rows[-1].id

    async def _fetch(self, row: Artifact, folder: Path) -> ArtifactFile:
        """A local copy of an artifact (the store may be S3), named as it was logged."""
        target = folder / row.name
        members = await self.store.members(row.path)
        if members is None:
            await self._copy(row.path, target)
        else:
            for member in members:
                await self._copy(f"{row.path}/{member}", target / member)
        return ArtifactFile(row.name, target)

    async def _copy(self, key: str, target: Path) -> None:
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        f = await asyncio.to_thread(open, target, "wb")
        try:
            async for chunk in self.store.open(key):
                await asyncio.to_thread(f.write, chunk)
        finally:
            await asyncio.to_thread(f.close)

    async def _record(self, job: Job, progress: Progress | None, values: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        async with self.db.write() as session:
            if progress is not None:  # what was sent counts, whoever holds the row now
                await session.execute(
                    update(TrackingExport)
                    .where(TrackingExport.id == job.export_id)
                    .values(cursor=progress.cursor, external_id=progress.external_id,
                            updated_at=now)
                    .execution_options(synchronize_session=False)
                )  # fmt: skip
            if values:  # the outcome, only while our claim stands
                await session.execute(
                    update(TrackingExport)
                    .where(TrackingExport.id == job.export_id,
                           TrackingExport.attempts == job.attempt)
                    .values(**values, updated_at=now)
                    .execution_options(synchronize_session=False)
                )  # fmt: skip


def _ending(run: RunInfo) -> str:
    """Which end of the run this is: a retried run ends again, later (maybe as it did)."""
    return f"{run.status}@{run.finished_at.isoformat() if run.finished_at else ''}"


def _is_live(name: str) -> bool:
    cls = registry.ADAPTERS.get(name)
    return bool(cls and cls.live)


async def _claim_one(
    session: AsyncSession, row: TrackingExport, now: datetime, lease: datetime
) -> bool:
    result = await session.execute(
        update(TrackingExport)
        .where(
            TrackingExport.id == row.id,
            TrackingExport.attempts == row.attempts,
            TrackingExport.status.in_(DUE),
            TrackingExport.next_attempt_at <= now,
        )
        .values(attempts=row.attempts + 1, next_attempt_at=lease)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def _run_info(session: AsyncSession, run_id: int) -> RunInfo | None:
    run = await session.get(Run, run_id)
    workflow = await session.get(Workflow, run.workflow_id) if run else None
    if run is None or workflow is None:
        return None
    tags = {
        "plait.workflow": workflow.name,
        "plait.workflow_version": str(run.workflow_version),
        "plait.trigger": run.trigger,
    }
    return RunInfo(run.id, workflow.name, run.status, dict(run.params), tags,
                   run.created_at, run.started_at, run.finished_at)  # fmt: skip
