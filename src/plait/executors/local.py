"""The local executor: every attempt in its own process, forked from a warm fork server.

Output goes straight from the task to its log file (the server never holds it in memory);
SDK records go to an events file that this executor reads as the task runs (each heartbeat)
and when it ends, so they survive a server crash on disk. Each read is bounded (bytes, lines,
line length) and every record is checked by `reports.accept`: a bad one is dropped with a note
in the attempt's log, and a flood fails that attempt alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from plait.datasets.broker import TaskDatasets, write_reply
from plait.errors import PlaitError
from plait.executors import limits, reports, sandbox
from plait.executors.base import AttemptRef, Dispatch, Emit
from plait.executors.eventsfile import EventsFile
from plait.executors.layout import EXITFILE, PIDFILE, pid_namespace, process_start_time
from plait.executors.reports import (
    ArtifactReport,
    DatasetLog,
    DatasetRequest,
    ErrorReport,
    Exited,
    Heartbeat,
    Intake,
    LogReport,
    ModelReport,
    Rejected,
    Report,
    Started,
)
from plait.runner import confine, processes
from plait.runner.prepare import folders, prepare
from plait.settings import Settings
from plait.storage import artifact_store
from plait.storage.artifacts import artifact_key

log = logging.getLogger("plait.executor")
LOG_BATCH = 64 * 1024  # bytes of output per `log` event
READY_SECONDS = 120.0  # for the fork server to start and import PLAIT_PRELOAD


@dataclass
class _Proc:
    job: Dispatch
    dir: Path
    artifacts: Path
    pid: int | None = None
    log_offset: int = 0  # in the output log, up to where it was sent as log events
    reason: str | None = None
    error: str | None = None
    exit_code: int | None = None  # once the process ended
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    # Held while its reports are read and sent: an artifact's upload may take a while, and
    # the exit must not overtake what a heartbeat read before it.
    emitting: asyncio.Lock = field(default_factory=asyncio.Lock)
    events: EventsFile = field(init=False)
    intake: Intake = field(init=False)

    def __post_init__(self) -> None:
        self.events = EventsFile(self.dir / "events.jsonl")
        self.intake = Intake(self.job.attempt_id, self.artifacts)

    @classmethod
    def of(cls, data_dir: Path, job: Dispatch) -> _Proc:
        return cls(job, *folders(data_dir, job))


class LocalExecutor:
    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queued_timeout: float | None = settings.zombie_seconds
        self._base_env: dict[str, str] = {}
        self.artifacts = artifact_store(settings)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._procs: dict[int, _Proc] = {}
        self._closing: dict[int, _Proc] = {}  # ended; their last records not yet all reported
        self._emit: Emit = lambda _event: None
        self._zygote: asyncio.subprocess.Process | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._stopping = False
        self._sandbox = False
        # Answers its tasks' dataset requests; None where nothing can (they get an error).
        self.datasets: TaskDatasets | None = None

    async def start(self, emit: Emit) -> None:
        self._emit = emit
        self._sandbox = sandbox.sandboxed(self.settings)
        self._base_env = sandbox.task_environment(self.settings, self._sandbox)
        if not self._sandbox:
            log.warning("PLAIT_TASK_SANDBOX=off: tasks can read the server's secret key, its "
                        "database and every file of the server's user")  # fmt: skip
        elif not confine.available():
            log.warning("this kernel has no Landlock: a task can write other runs' folders "
                        "and artifacts (Linux 5.13 or newer has it)")  # fmt: skip
        await self._start_zygote()
        self._keep(asyncio.create_task(self._heartbeats()))

    async def _start_zygote(self) -> None:
        """Start the fork server (in the sandbox, set up once here) and wait until it is warm."""
        env = {**sandbox.task_environment(self.settings, self._sandbox),
               "PLAIT_PRELOAD": self.settings.preload}  # fmt: skip
        argv = sandbox.forkserver_argv()
        if self._sandbox:
            argv = await asyncio.to_thread(sandbox.command, self.settings, argv)
        zygote = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, limit=1024 * 1024,
        )  # fmt: skip
        await self._until_ready(zygote)
        self._zygote = zygote
        self._keep(asyncio.create_task(self._read(zygote)))
        self._keep(asyncio.create_task(_log_stderr(zygote)))

    async def _until_ready(self, zygote: asyncio.subprocess.Process) -> None:
        assert zygote.stdout is not None and zygote.stderr is not None
        try:
            async with asyncio.timeout(READY_SECONDS):
                while line := await zygote.stdout.readline():
                    if json.loads(line).get("op") == "ready":
                        return
                    log.warning("fork server: %s", json.loads(line).get("message"))
        except TimeoutError:
            zygote.kill()
        said = (await zygote.stderr.read()).decode(errors="replace").strip()
        await zygote.wait()
        if self._sandbox:
            raise sandbox.SandboxUnavailable(
                f"the task sandbox (bubblewrap) could not start: {said or 'no message'}; "
                f"{sandbox.INSTALL_HINT}"
            )
        raise RuntimeError(f"the fork server could not start: {said or 'no message'}")

    def holds(self, attempt_id: int) -> bool:
        return attempt_id in self._procs or attempt_id in self._closing

    async def capacity(self) -> int:
        return self.settings.max_parallel_tasks - len(self._procs) - len(self._closing)

    async def submit(self, job: Dispatch) -> None:
        if job.attempt_id in self._procs or job.attempt_id in self._closing:
            return
        proc = _Proc.of(self.settings.data_dir, job)
        self._procs[job.attempt_id] = proc
        request = prepare(job, self.settings.data_dir, self._base_env)
        if self._sandbox:
            folders_of = folders(self.settings.data_dir, job)
            writable, tmp = await asyncio.to_thread(sandbox.task_writes, self.settings, *folders_of)
            request["writable"] = writable
            request["env"]["TMPDIR"] = tmp
        assert self._zygote is not None and self._zygote.stdin is not None
        self._zygote.stdin.write(json.dumps(request).encode() + b"\n")
        await self._zygote.stdin.drain()
        if job.timeout:
            loop = asyncio.get_running_loop()
            proc.timers.append(loop.call_later(job.timeout, self._expire, job.attempt_id))

    async def terminate(self, attempt_id: int, reason: str) -> None:
        proc = self._procs.get(attempt_id)
        if proc is None or proc.reason is not None:
            return
        proc.reason = reason
        self._signal(proc, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        grace = self.settings.kill_grace_seconds
        proc.timers.append(loop.call_later(grace, self._signal, proc, signal.SIGKILL))

    def _expire(self, attempt_id: int) -> None:
        self._keep(asyncio.ensure_future(self.terminate(attempt_id, "timeout")))

    def _keep(self, task: asyncio.Future[None]) -> None:
        """Hold a reference until it is done (the loop only keeps weak ones)."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _signal(self, proc: _Proc, sig: int) -> None:
        """Through the fork server: the attempt's supervisor signals every process of the
        attempt, those that left its process group included (and only it can see them, in
        the sandbox's pid namespace)."""
        zygote = self._zygote
        if zygote is None or zygote.stdin is None or zygote.stdin.is_closing():
            return
        name = "kill" if sig == signal.SIGKILL else "term"
        request = {"op": "signal", "attempt_id": proc.job.attempt_id, "signal": name}
        zygote.stdin.write(json.dumps(request).encode() + b"\n")

    async def _read(self, zygote: asyncio.subprocess.Process) -> None:
        assert zygote.stdout is not None
        while line := await zygote.stdout.readline():
            message = json.loads(line)
            proc = self._procs.get(message.get("attempt_id", -1))
            if message["op"] == "warning":
                log.warning("fork server: %s", message["message"])
            elif proc is not None and message["op"] == "started":
                self._started(proc, message["pid"])
            elif proc is not None and message["op"] == "exited":
                self._finished(proc, message["exit_code"])
            elif proc is not None and message["op"] == "error":
                proc.reason, proc.error = "lost", message["message"]
                self._finished(proc, -1)
        if not self._stopping:
            await self._zygote_died()

    async def _zygote_died(self) -> None:
        log.error("the fork server exited; its running attempts are lost; restarting it")
        for proc in list(self._procs.values()):
            proc.reason, proc.error = "lost", "the fork server exited"
            # In the sandbox they died with it (their pid namespace ended); if not, kill them.
            await asyncio.to_thread(_kill_recorded, proc.dir / PIDFILE)
            self._finished(proc, -1)
        await self._start_zygote()

    def _started(self, proc: _Proc, pid: int) -> None:
        proc.pid = pid
        self._emit(Started(attempt_id=proc.job.attempt_id, pid=pid, worker=self.worker))

    def _finished(self, proc: _Proc, exit_code: int) -> None:
        """The attempt ended (its supervisor killed whatever the task left running): its last
        records are reported in bounded batches (other attempts' reports go in between), then
        its exit. Until then it `holds()` it: nobody may judge it lost meanwhile."""
        attempt_id = proc.job.attempt_id
        self._procs.pop(attempt_id, None)
        for timer in proc.timers:
            timer.cancel()
        proc.exit_code = exit_code
        self._closing[attempt_id] = proc
        self._keep(asyncio.ensure_future(self._close(proc)))

    async def _close(self, proc: _Proc) -> None:
        try:
            async with proc.emitting:
                offset = -1
                while proc.reason != "rejected" and proc.events.offset != offset:
                    offset = proc.events.offset
                    await self._emit_all(proc, self._drain(proc))
                    await asyncio.sleep(0)  # let the scheduler and other attempts in
                for report in self._log_batch(proc):
                    self._emit(report)
                self._emit(self._exited(proc))
        finally:
            self._closing.pop(proc.job.attempt_id, None)

    async def _emit_all(self, proc: _Proc, batch: list[Report]) -> None:
        """Reports as they go out; an artifact is kept in the artifact store first, and
        reported by its key there."""
        for report in batch:
            if isinstance(report, ArtifactReport):
                try:
                    key = await self.artifacts.put_file(proc.job, report.name, Path(report.path))
                except (OSError, PlaitError) as exc:  # the store's own words stay in our log
                    log.warning("could not store artifact %r of attempt %d: %s",
                                report.name, proc.job.attempt_id, type(exc).__name__)  # fmt: skip
                    self._reject(proc, f"artifact {report.name!r}: it could not be stored")
                    continue
                report = report.model_copy(update={"path": key})
            elif isinstance(report, ModelReport):
                hashed = await self._hashed(proc, report)
                if hashed is None:
                    continue
                report = hashed
            self._emit(report)

    async def _hashed(self, proc: _Proc, report: ModelReport) -> ModelReport | None:
        """The model report with its folder's key and files (size, sha256) read back from
        the artifact store, where its `artifact` report has just put it."""
        from plait.models.registry import NotAModelFolder, stored_files

        key = artifact_key(proc.job, report.artifact)
        try:
            files = await stored_files(self.artifacts, key)
        except (NotAModelFolder, OSError, PlaitError) as exc:
            self._reject(proc, f"model {report.name!r}: {exc}")
            return None
        return report.hashed(key, files)

    def _exited(self, proc: _Proc) -> Exited:
        code = proc.exit_code if proc.exit_code is not None else -1
        error = proc.error
        if code != 0 and (error is None or proc.reason in ("timeout", "cancelled")):
            error = _describe_exit(code, proc)
        elif proc.intake.rejected and proc.reason != "rejected":
            note = _rejections(proc.intake)
            error = f"{error}; {note}" if error else note
        return Exited(attempt_id=proc.job.attempt_id, exit_code=code, reason=proc.reason,
                      error=error)  # fmt: skip

    def _drain(self, proc: _Proc) -> list[Report]:
        """One bounded batch of the attempt's records, checked; bad ones are dropped with a
        note in its log, and a flood stops the attempt."""
        batch: list[Report] = []
        if proc.reason == "rejected":
            return batch  # stopped for a flood: nothing more of it is read
        lines = proc.events.read()
        first = proc.events.lines - len(lines) + 1
        for number, line in enumerate(lines, first):
            if proc.intake.rejected > limits.MAX_REJECTED:
                break  # a flood: this attempt is stopped below, the rest is not worth reading
            try:
                report = reports.accept(line, proc.intake)
            except Rejected as exc:
                self._reject(proc, f"record {number} of the events file: {exc}")
                continue
            if isinstance(report, DatasetRequest | DatasetLog):
                self._keep(asyncio.ensure_future(self._answer(proc, report)))
                continue
            if isinstance(report, ErrorReport):
                # Kept on the attempt: a heartbeat may drain it before the exit does.
                proc.error = report.message
            batch.append(report)
        self._check_flood(proc)
        return batch

    async def _answer(self, proc: _Proc, ask: DatasetRequest | DatasetLog) -> None:
        """Off the reading path: a fetch into the cache may take a while."""
        if self.datasets is None:
            reply = {"ok": False, "error": "datasets cannot be reached from this executor"}
            await asyncio.to_thread(write_reply, self.settings.data_dir, proc.job, ask.id, reply)
            return
        await self.datasets.answer(proc.job, proc.dir, ask)

    def _reject(self, proc: _Proc, note: str) -> None:
        intake = proc.intake
        intake.rejected += 1
        intake.first_rejection = intake.first_rejection or note
        if intake.rejected <= limits.MAX_REJECTED:
            _note(proc.dir / "output.log", f"dropped {note}")

    def _check_flood(self, proc: _Proc) -> None:
        intake, why = proc.intake, None
        if intake.rejected > limits.MAX_REJECTED:
            why = f"more than {limits.MAX_REJECTED} bad records ({_rejections(intake)})"
        elif intake.records > limits.MAX_RECORDS:
            why = f"more than {limits.MAX_RECORDS} records"
        elif proc.events.offset > limits.MAX_EVENTS_BYTES:
            why = f"more than {limits.MAX_EVENTS_BYTES >> 20} MiB of records"
        if why is None or proc.reason == "rejected":
            return
        proc.reason, proc.error = "rejected", f"stopped: the task wrote {why} to its events file"
        _note(proc.dir / "output.log", proc.error)
        self._signal(proc, signal.SIGKILL)

    def _log_batch(self, proc: _Proc) -> list[Report]:
        """What the task printed since the last batch, as one `log` event. At most
        LOG_BATCH bytes go out per batch; a flood is skipped over, and says so (the whole
        log stays on disk, readable through the logs API)."""
        path = proc.dir / "output.log"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return []
        if size <= proc.log_offset:
            return []
        skipped = max(0, size - proc.log_offset - LOG_BATCH)
        with open(path, "rb") as f:
            f.seek(proc.log_offset + skipped)
            data = f.read(LOG_BATCH)
        text = data.decode("utf-8", "replace")
        if skipped:
            text = f"[... {skipped} bytes skipped; the full log is in the logs API ...]\n{text}"
        report = LogReport(attempt_id=proc.job.attempt_id, offset=proc.log_offset, text=text)
        proc.log_offset += skipped + len(data)
        return [report]

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            for proc in list(self._procs.values()):
                if proc.pid is None:
                    continue
                async with proc.emitting:
                    await self._emit_all(proc, [*self._drain(proc), *self._log_batch(proc)])
                self._emit(Heartbeat(attempt_id=proc.job.attempt_id))

    async def recover_orphans(self, attempts: list[AttemptRef]) -> set[int]:
        lost = set()
        host = socket.gethostname()
        for ref in (a for a in attempts if _dead_local_worker(a.worker, host)):
            job = Dispatch(ref.attempt_id, ref.run_id, "", ref.task_key, ref.attempt, "", "")
            proc = _Proc.of(self.settings.data_dir, job)
            # Killed either way: a recorded exit is the leader's, its group may live on.
            pid = await asyncio.to_thread(_kill_recorded, proc.dir / PIDFILE)
            code = await asyncio.to_thread(_recorded_exit, proc.dir / EXITFILE)
            if code is None:
                lost.add(ref.attempt_id)
                continue
            if pid is not None:
                self._emit(Started(attempt_id=ref.attempt_id, pid=pid, worker=self.worker))
            proc.exit_code = code
            self._closing[ref.attempt_id] = proc
            await self._close(proc)
        return lost

    async def stop(self) -> None:
        self._stopping = True
        for proc in list(self._procs.values()):
            self._signal(proc, signal.SIGKILL)
        for task in list(self._background):
            task.cancel()
        if self._zygote is not None and self._zygote.stdin is not None:
            self._zygote.stdin.close()
            try:
                async with asyncio.timeout(5):
                    await self._zygote.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._zygote.kill()


def _dead_local_worker(worker: str | None, host: str) -> bool:
    """Whether the attempt was claimed by a process of this host that is gone (this one,
    restarted, counts: its pid is ours again only if it is us). Unclaimed ones are ours to
    settle too: whoever queued them is not here to start them."""
    if worker is None:
        return True
    worker_host, _, pid = worker.rpartition(":")
    if worker_host != host or not pid.isdigit():
        return False  # another machine's: the zombie sweep decides by heartbeat
    return int(pid) == os.getpid() or not os.path.exists(f"/proc/{pid}")


def _kill_recorded(pidfile: Path) -> int | None:
    """Kill the processes of an attempt whose supervisor recorded its pid, if that very
    process still lives: in this pid namespace (a sandboxed one's ended with its fork
    server), with the same start time (so a pid the system has since reused is left alone).
    Returns the pid recorded, if any."""
    try:
        pid_text, started, namespace = pidfile.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if namespace == pid_namespace() and process_start_time(pid) == started:
        log.warning("killing orphaned task processes of %d (%s)", pid, pidfile.parent)
        processes.kill_tree(pid)
    return pid if 0 < pid < 2**31 else None


async def _log_stderr(zygote: asyncio.subprocess.Process) -> None:
    """What the fork server itself (not a task: tasks write to their logs) says."""
    assert zygote.stderr is not None
    while line := await zygote.stderr.readline():
        log.warning("fork server: %s", line.decode(errors="replace").rstrip())


def _recorded_exit(path: Path) -> int | None:
    """The exit code the fork server recorded for an attempt, or None if it recorded none."""
    try:
        code = json.loads(path.read_text())["exit_code"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return code if isinstance(code, int) and -255 <= code <= 255 else None


def _note(log_path: Path, text: str) -> None:
    """A line from Plait in the attempt's log, where its user looks first."""
    with contextlib.suppress(OSError), open(log_path, "a", encoding="utf-8") as f:
        f.write(f"[plait] {text}\n")


def _rejections(intake: Intake) -> str:
    return f"{intake.rejected} bad records dropped, the first: {intake.first_rejection}"


def _describe_exit(exit_code: int, proc: _Proc) -> str:
    if proc.reason == "timeout":
        return f"timed out after {proc.job.timeout:g} s"
    if proc.reason == "cancelled":
        return "cancelled"
    name = reports.exit_signal(exit_code)
    if exit_code < 0 and name is not None:
        return f"killed by {name}"
    last = _last_line(proc.dir / "output.log")
    if name is not None:  # a shell whose command a signal killed: 128 + N
        return f"killed by {name} (exit code {exit_code})" + (f": {last}" if last else "")
    return f"exit code {exit_code}" + (f": {last}" if last else "")


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:1000] if lines else ""
