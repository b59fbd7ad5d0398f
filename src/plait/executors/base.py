"""The executor interface: a serializable dispatch out, typed reports back.

Reports (`plait.executors.reports`, a union keyed on `type`, each with an `attempt_id`):
  started    pid, worker                  the process runs
  heartbeat                               still running
  output     key, value                   from plait.set_output
  metric     key, value, step, ts         from plait.log_metric
  artifact   name, path, size             from plait.log_artifact
  log        offset, text                 what the task printed
  error      message                      the task's last error line
  exited     exit_code, reason, error     the process ended; reason: None | "timeout" |
                                          "cancelled" | "lost" | "rejected"
An executor reports an attempt's records before its `exited`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dispatch:
        return cls(**data)


@dataclass(frozen=True)
class AttemptRef:
    """Names an attempt that a previous server left behind."""

    attempt_id: int
    run_id: int
    task_key: str
    attempt: int


@runtime_checkable
class Executor(Protocol):
    async def start(self, emit: Emit) -> None:
        """Begin; `emit` receives every event, on the event loop's thread."""

    async def submit(self, job: Dispatch) -> None:
        """Run `job`. Idempotent by attempt id: a second submit of one attempt is ignored."""

    async def terminate(self, attempt_id: int, reason: str) -> None:
        """Stop an attempt: SIGTERM, then SIGKILL after the grace period."""

    def active(self) -> set[int]:
        """The attempt ids this executor is running, or has yet to report the end of."""

    async def recover_orphans(self, attempts: list[AttemptRef]) -> set[int]:
        """Settle attempts a dead server started (after a crash): an attempt whose exit was
        recorded is reported (its records, then `exited`) as if it had just ended; whatever
        still runs for the others is killed, and their ids are returned: they are lost."""

    async def stop(self) -> None:
        """Terminate everything and release resources."""
