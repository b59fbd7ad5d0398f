"""Weights & Biases: the whole run once it has ended, written by `wandb_child` in a process
of its own (wandb keeps global state and starts a service; the server must not share
either), offline by default: run folders under PLAIT_WANDB_DIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from plait.settings import Settings
from plait.tracking.base import AdapterUnavailable, ArtifactFile, Point, RunInfo

TIMEOUT = 600.0  # seconds one run's writing may take


class WandbAdapter:
    name: ClassVar[str] = "wandb"
    live: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        import importlib.util

        if importlib.util.find_spec("wandb") is None:
            raise AdapterUnavailable("wandb is not installed; install plait[tracking]")
        self.mode = settings.wandb_mode
        self.dir = settings.wandb_dir or settings.data_dir / "wandb"
        self.project = settings.wandb_project
        self.params: dict[str, Any] = {}
        self.points: list[Point] = []
        self.files: list[ArtifactFile] = []

    def start(self, run: RunInfo, external_id: str | None) -> str:
        # One id per Plait run: a second write of it (a resend) is the same W&B run.
        return external_id or f"plait-run-{run.run_id}"

    def log_params(self, external_id: str, params: dict[str, Any]) -> None:
        self.params.update(params)

    def log_metrics(self, external_id: str, points: list[Point]) -> None:
        self.points.extend(points)

    def log_artifacts(self, external_id: str, files: list[ArtifactFile]) -> None:
        self.files.extend(files)

    def finish(self, external_id: str, run: RunInfo) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "id": external_id,
            "mode": self.mode,
            "dir": str(self.dir),
            "project": self.project or run.workflow,
            "name": f"{run.workflow}-{run.run_id}",
            "status": run.status,
            "tags": run.tags,
            "params": self.params,
            "points": [asdict(p) for p in self.points],
            "files": [{"name": f.name, "path": str(f.path)} for f in self.files],
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(payload, f)
        try:
            _write(Path(f.name))
        finally:
            os.unlink(f.name)


def _write(payload: Path) -> None:
    env = {**os.environ, "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}
    done = subprocess.run(  # noqa: S603 (our own module, our own interpreter)
        [sys.executable, "-m", "plait.tracking.wandb_child", str(payload)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"wandb exited with {done.returncode}: {' | '.join(tail)}")
