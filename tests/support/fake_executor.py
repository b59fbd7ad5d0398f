"""A fake executor: the smallest thing that keeps the executor contract.

No fork server, no sandbox, no supervisor: one plain subprocess per attempt, prepared by the
same `runner.prepare` as every executor, its records read once when it ends. It shows that the
contract (tests/executors/contract.py) is about the boundary, not the local executor's
internals, and it is a second implementation to hold the contract against.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from plait.executors import reports
from plait.executors.base import AttemptRef, Dispatch, Emit
from plait.executors.eventsfile import EventsFile
from plait.executors.reports import ArtifactReport, Exited, Intake, Rejected, Started
from plait.runner.prepare import folders, prepare
from plait.settings import Settings
from plait.storage import artifact_store

COMMANDS = {"python": [sys.executable, "-c"], "shell": ["/bin/sh", "-c"]}


class FakeExecutor:
    name = "fake"
    queued_timeout: float | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._emit: Emit = lambda _report: None
        self._running: dict[int, asyncio.Task[None]] = {}
        self._stopping: dict[int, str] = {}
        self._store = artifact_store(settings)

    async def start(self, emit: Emit) -> None:
        self._emit = emit

    async def capacity(self) -> int:
        return self.settings.max_parallel_tasks - len(self._running)

    def holds(self, attempt_id: int) -> bool:
        return attempt_id in self._running

    async def submit(self, job: Dispatch) -> None:
        if job.attempt_id not in self._running:
            self._running[job.attempt_id] = asyncio.create_task(self._run(job))

    async def terminate(self, attempt_id: int, reason: str) -> None:
        if attempt_id in self._running:
            self._stopping.setdefault(attempt_id, reason)

    async def recover_orphans(self, attempts: list[AttemptRef]) -> set[int]:
        return set()  # it keeps nothing across restarts: heartbeats judge what is left

    async def stop(self) -> None:
        for task in self._running.values():
            task.cancel()

    async def _run(self, job: Dispatch) -> None:
        request = prepare(job, self.settings.data_dir, {"PATH": os.environ["PATH"]})
        with open(request["log"], "ab") as out:  # noqa: ASYNC230 (once per attempt, local)
            proc = await asyncio.create_subprocess_exec(
                *COMMANDS[job.kind], job.body, cwd=request["cwd"], env=request["env"],
                stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        self._emit(Started(attempt_id=job.attempt_id, pid=proc.pid, worker="fake"))
        reason = await self._watch(job, proc)
        code = proc.returncode if proc.returncode is not None else -1
        await self._report_records(job)
        error = None if code == 0 else _last_line(request["log"]) or f"exit code {code}"
        if reason == "timeout":
            error = f"timed out after {job.timeout:g} s"
        self._running.pop(job.attempt_id, None)
        self._emit(Exited(attempt_id=job.attempt_id, exit_code=code, reason=reason, error=error))

    async def _watch(self, job: Dispatch, proc: asyncio.subprocess.Process) -> str | None:
        """Wait for the end; kill on a timeout or when asked to stop."""
        deadline = asyncio.get_running_loop().time() + (job.timeout or 1e9)
        while proc.returncode is None:
            reason = self._stopping.pop(job.attempt_id, None)
            if reason is None and asyncio.get_running_loop().time() > deadline:
                reason = "timeout"
            if reason is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
                return reason
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.05)
        return None

    async def _report_records(self, job: Dispatch) -> None:
        """What the task wrote, checked; an artifact goes to the store and is reported by its
        key there (as every executor must)."""
        folder, artifacts = folders(self.settings.data_dir, job)
        intake = Intake(job.attempt_id, artifacts)
        for line in EventsFile(folder / "events.jsonl").read():
            try:
                report = reports.accept(line, intake)
            except Rejected:
                continue
            if isinstance(report, reports.DatasetRequest | reports.DatasetLog):
                continue  # requests to answer, not reports (the fake answers none)
            if isinstance(report, ArtifactReport):
                key = await self._store.put_file(job, report.name, Path(report.path))
                report = report.model_copy(update={"path": key})
            self._emit(report)


def _last_line(path: str) -> str:
    with contextlib.suppress(OSError), open(path, "rb") as f:
        lines = f.read()[-4096:].decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""
    return ""
