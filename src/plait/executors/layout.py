"""Where an attempt's files live under the data directory (the API reads logs from here)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("plait.files")

PIDFILE = "pid"  # "<pid> <start time> <pid namespace>", written by the task's supervisor
EXITFILE = "exit"  # {"exit_code": n}, written by the fork server when it reaps the process


def attempt_dir(data_dir: Path, run_id: int, task_key: str, attempt: int) -> Path:
    return data_dir / "runs" / str(run_id) / task_key / str(attempt)


def log_path(data_dir: Path, run_id: int, task_key: str, attempt: int) -> Path:
    return attempt_dir(data_dir, run_id, task_key, attempt) / "output.log"


def artifacts_dir(data_dir: Path, run_id: int, task_key: str, attempt: int) -> Path:
    return data_dir / "artifacts" / str(run_id) / task_key / str(attempt)


def run_dirs(data_dir: Path, run_id: int) -> list[Path]:
    """Every folder that holds files of the run."""
    return [data_dir / "runs" / str(run_id), data_dir / "artifacts" / str(run_id)]


def remove_run_files(data_dir: Path, run_ids: Iterable[int]) -> None:
    """Remove the files of deleted runs (blocking: call it in a thread). A folder that cannot
    be removed is logged, not raised: the delete it follows has been committed."""
    for run_id in run_ids:
        for folder in run_dirs(data_dir, run_id):
            shutil.rmtree(folder, onerror=_log_failure)


def _log_failure(_fn: object, path: str, exc_info: object) -> None:
    if not isinstance(exc_info, tuple) or not isinstance(exc_info[1], FileNotFoundError):
        log.warning("could not remove %s of a deleted run: %s", path, exc_info)


def process_start_time(pid: int) -> str | None:
    """When a process started, in clock ticks since boot (field 22 of /proc/<pid>/stat):
    with the pid, it names one process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def pid_namespace() -> str:
    """This process's pid namespace ("pid:[4026531836]"): a pid means something only there
    (tasks in the sandbox live in their own)."""
    return os.readlink("/proc/self/ns/pid")
