"""Where an attempt's files live under the data directory (the API reads logs from here)."""

from __future__ import annotations

from pathlib import Path


def attempt_dir(data_dir: Path, run_id: int, task_key: str, attempt: int) -> Path:
    return data_dir / "runs" / str(run_id) / task_key / str(attempt)


def log_path(data_dir: Path, run_id: int, task_key: str, attempt: int) -> Path:
    return attempt_dir(data_dir, run_id, task_key, attempt) / "output.log"


def artifacts_dir(data_dir: Path, run_id: int, task_key: str, attempt: int) -> Path:
    return data_dir / "artifacts" / str(run_id) / task_key / str(attempt)
