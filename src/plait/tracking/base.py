"""What an adapter is given and must do. Adapters are synchronous (their clients are): the
forwarder calls them in a thread, so a slow tracking server never blocks the event loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from plait.settings import Settings

FINAL = {"succeeded", "failed", "cancelled"}


class AdapterUnavailable(RuntimeError):
    """The adapter cannot work here (its package is not installed, a setting is missing)."""


@dataclass(frozen=True)
class RunInfo:
    run_id: int
    workflow: str
    status: str
    params: dict[str, Any]
    tags: dict[str, str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def final(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True)
class Point:
    """One metric point; `timestamp` in milliseconds since the epoch, as MLflow has it."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class ArtifactFile:
    """An artifact fetched from the artifact store: a file, or a folder of files."""

    name: str
    path: Path


class Adapter(Protocol):
    """One tracking system. `live` adapters are sent a running run's new metrics as they come;
    the others get the whole run once it has ended. Every call must be safe to repeat:
    forwarding is at least once."""

    name: ClassVar[str]
    live: ClassVar[bool]

    def __init__(self, settings: Settings) -> None: ...

    def start(self, run: RunInfo, external_id: str | None) -> str:
        """The run on the other side: `external_id` if there is one, else found (made by an
        earlier try whose id was not kept) or made. Returns its id."""
        ...

    def log_params(self, external_id: str, params: dict[str, Any]) -> None: ...

    def log_metrics(self, external_id: str, points: list[Point]) -> None:
        """A batch of points, in the order they were logged (at most `BATCH`)."""
        ...

    def log_artifacts(self, external_id: str, files: list[ArtifactFile]) -> None: ...

    def finish(self, external_id: str, run: RunInfo) -> None:
        """The run has ended with `run.status`; everything has been sent."""
        ...


BATCH = 1000  # metric points per log_metrics call: MLflow's log_batch takes at most 1000
