"""What one worker process runs attempts with: a local executor (its fork server started
once) on an asyncio loop in a background thread. Celery's threads hand attempt ids to it
and wait; the loop claims each attempt, runs it, and ships what it reports to the server:
records in batches on each heartbeat, the log as chunks at offsets, artifacts as files,
and last its exit."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from plait.datasets.remote import worker_datasets
from plait.executors.base import Dispatch
from plait.executors.limits import MAX_RECORDS_PER_BATCH
from plait.executors.local import LocalExecutor
from plait.executors.reports import (
    ArtifactReport,
    ErrorReport,
    Exited,
    Heartbeat,
    MetricReport,
    ModelReport,
    Output,
    ProgressReport,
    Report,
)
from plait.runner.prepare import folders
from plait.settings import Settings
from plait.storage.files import members
from plait.worker.client import CHUNK, ExecApi, Refused, Unreachable

log = logging.getLogger("plait.worker")
T = TypeVar("T")
# sent as records
SHIPPED = (Heartbeat, Output, MetricReport, ProgressReport, ErrorReport, ModelReport)
BATCH_BYTES = 512 * 1024  # of reports per request: below the server's body limit (1 MiB)


@dataclass
class _Attempt:
    job: Dispatch
    dir: Path
    artifacts_dir: Path
    records: list[Report] = field(default_factory=list)
    artifacts: list[ArtifactReport] = field(default_factory=list)
    exited: Exited | None = None
    log_offset: int = 0  # how much of output.log the server holds
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Runtime:
    def __init__(self, settings: Settings, api: ExecApi, queues: list[str], concurrency: int):
        self.settings = settings
        self.api = api
        self.queues = queues
        self.concurrency = concurrency
        # Artifacts stay on this host until shipped: the server keeps them in its store (a
        # worker holds no store credentials, only its worker token).
        self.executor = LocalExecutor(settings.model_copy(update={"artifact_store": "local"}))
        self.executor.datasets = worker_datasets(api, settings.data_dir)
        self.name = self.executor.worker  # host:pid
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="plait-runtime",
                                        daemon=True)  # fmt: skip
        self._attempts: dict[int, _Attempt] = {}
        self._taken: set[int] = set()  # claimed or being claimed by this process
        self._heartbeat: asyncio.Task[None] | None = None

    # --- called from other threads (Celery's) ----------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._call(self._start()).result()

    def run(self, attempt_id: int) -> None:
        """Run one attempt to its end (blocking: a Celery thread waits here)."""
        self._call(self._run(attempt_id)).result()

    def stop(self) -> None:
        self._call(self._stop()).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # --- on the loop -------------------------------------------------------------------

    async def _start(self) -> None:
        await self.executor.start(self._on_report)
        self._heartbeat = asyncio.create_task(self._heartbeats())

    async def _stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        await self.executor.stop()
        await self.api.close()

    async def _run(self, attempt_id: int) -> None:
        if attempt_id in self._taken:
            # The server would hand this process the job again (its claim is idempotent
            # for a retry): a duplicate message delivered to the same worker stops here.
            log.info("attempt %d not run: this worker runs it already", attempt_id)
            return
        self._taken.add(attempt_id)
        try:
            await self._claim_and_run(attempt_id)
        finally:
            self._taken.discard(attempt_id)

    async def _claim_and_run(self, attempt_id: int) -> None:
        claimed = await self.api.claim(attempt_id, self.name)
        if claimed is None:
            return  # cancelled, finished, or started elsewhere: a duplicate message
        job = Dispatch.from_json(claimed["job"])
        attempt = _Attempt(job, *folders(self.settings.data_dir, job))
        self._attempts[attempt_id] = attempt
        try:
            await self.executor.submit(job)
            if await self._ship_until_exit(attempt):
                await asyncio.to_thread(_remove, attempt)  # the server holds all of it
        finally:
            del self._attempts[attempt_id]

    def _on_report(self, report: Report) -> None:
        attempt = self._attempts.get(report.attempt_id)
        if attempt is None:
            return
        if isinstance(report, ArtifactReport):
            attempt.artifacts.append(report)
        elif isinstance(report, SHIPPED):
            attempt.records.append(report)
        elif isinstance(report, Exited):
            attempt.exited = report
        else:
            return  # started: claimed already; log: shipped from the file itself
        if isinstance(report, Heartbeat | Exited):
            attempt.wake.set()

    async def _ship_until_exit(self, attempt: _Attempt) -> bool:
        """Ship on each heartbeat, and all of it at the exit; True once the exit is sent.
        A server that refuses (4xx) or stays away ends the attempt here: it would judge the
        attempt lost by its silence anyway."""
        attempt_id = attempt.job.attempt_id
        while True:
            await attempt.wake.wait()
            attempt.wake.clear()
            try:
                if await self._ship(attempt):
                    return True
            except (Refused, Unreachable) as exc:
                log.error("attempt %d: %s; stopping it", attempt_id, exc)
                await self.executor.terminate(attempt_id, "lost")
                await self._until_exit(attempt)
                return False

    async def _ship_artifact(self, attempt_id: int, artifact: ArtifactReport) -> None:
        """The file the local executor kept (its key is under <data_dir>/artifacts)."""
        path = self.settings.data_dir / "artifacts" / artifact.path
        if path.is_dir():  # a folder (a model's): file by file, each named by its place
            inside = path.resolve()
            for real, member in await asyncio.to_thread(lambda: list(members(inside, inside))):
                await self.api.artifact(attempt_id, artifact.name, real, member=member)
            return
        await self.api.artifact(attempt_id, artifact.name, path)

    async def _ship(self, attempt: _Attempt) -> bool:
        """Log, artifacts, then records (the exit after them, last of all)."""
        exited = attempt.exited  # taken first: its attempt's last records came before it
        await self._ship_log(attempt)
        while attempt.artifacts:
            artifact = attempt.artifacts[0]
            await self._ship_artifact(attempt.job.attempt_id, artifact)
            attempt.artifacts.pop(0)
        records, attempt.records = attempt.records, []
        final = [exited] if exited is not None else []
        stop = False
        for batch in _batches([r.model_dump(mode="json") for r in [*records, *final]]):
            stop = await self.api.reports(attempt.job.attempt_id, batch)
        if stop and exited is None:
            await self.executor.terminate(attempt.job.attempt_id, "cancelled")
        return exited is not None

    async def _ship_log(self, attempt: _Attempt) -> None:
        path = attempt.dir / "output.log"
        while True:
            data = await asyncio.to_thread(_read, path, attempt.log_offset)
            if not data:
                return
            size = await self.api.log(attempt.job.attempt_id, attempt.log_offset, data)
            if size == attempt.log_offset:
                return  # no progress: tried again on the next heartbeat
            attempt.log_offset = size  # on a 409, where the server's copy ends

    async def _until_exit(self, attempt: _Attempt) -> None:
        while attempt.exited is None:
            await attempt.wake.wait()
            attempt.wake.clear()

    async def _heartbeats(self) -> None:
        """The worker's own heartbeat: who it is, what it takes, what it runs; the answer
        names attempts to stop (cancelled runs, timeouts decided by the server)."""
        while True:
            body = {"worker": self.name, "queues": self.queues,
                    "concurrency": self.concurrency, "running": sorted(self._attempts)}  # fmt: skip
            try:
                for attempt_id in await self.api.heartbeat(body):
                    if attempt_id in self._attempts:
                        await self.executor.terminate(attempt_id, "cancelled")
            except (Refused, Unreachable) as exc:
                log.error("worker heartbeat: %s", exc)
            await asyncio.sleep(self.settings.heartbeat_seconds)


def _batches(reports: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """In order, as few requests as the API's bounds allow (records per request, body size)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for report in reports:
        length = len(json.dumps(report))
        if batch and (len(batch) >= MAX_RECORDS_PER_BATCH or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(report)
        size += length + 1
    if batch:
        yield batch


def _read(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(CHUNK)
    except FileNotFoundError:
        return b""


def _remove(attempt: _Attempt) -> None:
    for folder in (attempt.dir, attempt.artifacts_dir):
        shutil.rmtree(folder, ignore_errors=True)
