"""The executor interface: a serializable dispatch out, typed reports back.

Reports (`plait.executors.reports`, a union keyed on `type`, each with an `attempt_id`):
  started    pid, worker                  the process runs
  heartbeat                               still running
  output     key, value                   from plait.set_output
  metric     key, value, step, ts         from plait.log_metric
  progress   fraction, message, ts        from plait.progress
  artifact   name, path, size             from plait.log_artifact
  log        offset, text                 what the task printed
  error      message                      the task's last error line
  exited     exit_code, reason, error     the process ended; reason: None | "timeout" |
                                          "cancelled" | "lost" | "rejected"
An executor reports an attempt's records before its `exited`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from plait.executors.reports import Report

Emit = Callable[[Report], None]


@dataclass(frozen=True)
class Dispatch:
    """Everything needed to run one attempt, and nothing that is not JSON."""

    attempt_id: int
    run_id: int
    workflow: str
    task_key: str
    attempt: int
    kind: str
    body: str
    env: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    queue: str | None = None
    # ISO 8601 with the workflow's UTC offset: the fire time the run stands for (cron or
    # backfill), else when it was created. plait.logical_date(), PLAIT_LOGICAL_DATE.
    logical_date: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dispatch:
        """Fields this version does not know (a newer server's) are left out."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class AttemptRef:
    """Names an attempt that was queued or running when this server started."""

    attempt_id: int
    run_id: int
    task_key: str
    attempt: int
    worker: str | None = None  # who claimed it ("host:pid"), if anyone did


@runtime_checkable
class Executor(Protocol):
    """Runs attempts and answers for them: its own capacity, and whether an attempt is its
    to run. The scheduler decides only policy from these answers; reports, whatever the
    transport, are applied by `plait.orchestration.apply`."""

    name: str
    # Seconds an attempt may stay queued before it counts as lost, or None: a message may
    # wait in a broker's queue for as long as the workers are busy.
    queued_timeout: float | None

    async def start(self, emit: Emit) -> None:
        """Begin; `emit` receives every report, on the event loop's thread."""

    async def capacity(self) -> int:
        """How many more attempts it takes now."""

    async def submit(self, job: Dispatch) -> None:
        """Run `job`. Idempotent by attempt id: a second submit of one attempt is ignored.
        The attempt starts with a claim (a `started` report, or the execution API's claim)
        that the server refuses when the attempt is no longer waiting to start."""

    async def terminate(self, attempt_id: int, reason: str) -> None:
        """Stop an attempt: SIGTERM, then SIGKILL after the grace period."""

    def holds(self, attempt_id: int) -> bool:
        """Whether this executor, in this process, runs the attempt or has yet to report its
        end: then nobody else may judge it lost or cancel it unseen."""

    async def recover_orphans(self, attempts: list[AttemptRef]) -> set[int]:
        """At start: of the attempts left queued or running, settle those a dead process of
        this executor's kind on this host left behind: one whose exit was recorded is
        reported (its records, then `exited`) as if it had just ended; whatever still runs
        of the others is killed, and their ids are returned: they are lost. Attempts of live
        processes or other hosts are left alone (heartbeats judge them)."""

    async def stop(self) -> None:
        """Terminate everything and release resources."""
