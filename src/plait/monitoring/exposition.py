"""What a scrape of /metrics answers: this process's instruments, or with
PROMETHEUS_MULTIPROC_DIR set every process's on this host summed; plus what only the database
knows (runs and attempts queued and running now), read at scrape time.

In multiprocess mode each process writes its values to files in the directory (set the
variable before the server starts: prometheus_client reads it once, at import). Counters and
histograms of processes that ended stay in the sums (a counter must not go backwards);
gauges marked `livesum` count live processes only.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from plait.db.engine import Database
from plait.db.models import Run, TaskAttempt

CACHE_SECONDS = 2.0  # scrapes closer together than this (several Prometheus) share one read
CURRENT = ("queued", "running")


def multiprocess_dir() -> str | None:
    """The directory shared by this host's server processes, or None (one process)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def prepare(directory: str) -> None:
    """At a process's start: if no other process that wrote to `directory` is alive, this is
    a fresh start of them all and the files of the last one are removed; otherwise only the
    live-gauge files of processes that died (a crash skips `process_ended`) go."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    files = {f: _pid(f) for f in path.glob("*.db")}
    others = {pid for pid in files.values() if pid is not None and pid != os.getpid()}
    alive = {pid for pid in others if _alive(pid)}
    if alive:
        for dead in others - alive:
            multiprocess.mark_process_dead(dead, directory)  # type: ignore[no-untyped-call]
        return
    for file, owner in files.items():
        if owner != os.getpid():
            file.unlink(missing_ok=True)


def process_ended() -> None:
    """At a process's clean exit: its live gauges leave the sums."""
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


def _pid(file: Path) -> int | None:
    tail = file.stem.rsplit("_", 1)[-1]  # counter_<pid>.db, gauge_livesum_<pid>.db
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class CurrentState(Collector):
    """Runs and attempts queued and running now, and the queue's oldest wait: one grouped
    count per table on its indexed status column, read at most every CACHE_SECONDS."""

    def __init__(self) -> None:
        self.runs: dict[str, int] = {}
        self.attempts: dict[str, int] = {}
        self.oldest_queued: datetime | None = None
        self._read_at = -math.inf
        self.cache_seconds = CACHE_SECONDS

    async def refresh(self, db: Database) -> None:
        if time.monotonic() - self._read_at < self.cache_seconds:
            return
        async with db.read() as session:
            runs = await session.execute(
                select(Run.status, func.count()).where(Run.status.in_(CURRENT)).group_by(Run.status)
            )
            attempts = await session.execute(
                select(TaskAttempt.status, func.count(), func.min(TaskAttempt.queued_at))
                .where(TaskAttempt.status.in_(CURRENT))
                .group_by(TaskAttempt.status)
            )
            rows = attempts.all()
        self.runs = {status: n for status, n in runs.all()}
        self.attempts = {status: n for status, n, _ in rows}
        self.oldest_queued = next((at for status, _, at in rows if status == "queued"), None)
        self._read_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        for name, counts, what in (
            ("plait_runs_current", self.runs, "Runs"),
            ("plait_attempts_current", self.attempts, "Task attempts"),
        ):
            family = GaugeMetricFamily(name, f"{what} queued or running now.", labels=["status"])
            for status in CURRENT:
                family.add_metric([status], counts.get(status, 0))
            yield family
        yield GaugeMetricFamily(
            "plait_queue_depth",
            "Task attempts queued (sent to an executor) and not started yet.",
            value=self.attempts.get("queued", 0),
        )
        waited = 0.0
        if self.oldest_queued is not None:
            waited = max(0.0, (datetime.now(UTC) - self.oldest_queued).total_seconds())
        yield GaugeMetricFamily(
            "plait_queue_oldest_seconds",
            "How long the longest-waiting queued attempt has waited (0: none waits).",
            value=waited,
        )


class _ThisProcess(Collector):
    """The default registry's metrics: the instruments and the process's own (CPU, memory)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class Exposition:
    """One per app: builds the text of a scrape."""

    def __init__(self) -> None:
        self.state = CurrentState()

    async def scrape(self, db: Database) -> bytes:
        await self.state.refresh(db)
        registry = CollectorRegistry(auto_describe=False)
        directory = multiprocess_dir()
        source: Collector
        if directory is not None:
            source = multiprocess.MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
        else:
            source = _ThisProcess()
        registry.register(source)
        registry.register(self.state)
        return generate_latest(registry)
