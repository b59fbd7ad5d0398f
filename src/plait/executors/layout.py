"""Where an attempt's files live under the data directory (the API reads logs from here)."""

from __future__ import annotations

from pathlib import Path

PIDFILE = "pid"  # "<pid> <start time>", written by the task's process as it starts
EXITFILE = "exit"  # {"exit_code": n}, written by the fork server when it reaps the process


def attempt_dir(data_dir: Path, run_id: int, task_key: str, attempt: int) -> Path:
    return data_dir / "runs" / str(run_id) / task_key / str(attempt)


def log_path(data_dir: Path, run_id: int, task_key: str, attempt: int) -> Path:
    return attempt_dir(data_dir, run_id, task_key, attempt) / "output.log"


def artifacts_dir(data_dir: Path, run_id: int, task_key: str, attempt: int) -> Path:
    return data_dir / "artifacts" / str(run_id) / task_key / str(attempt)


def process_start_time(pid: int) -> str | None:
    """When a process started, in clock ticks since boot (field 22 of /proc/<pid>/stat):
    with the pid, it names one process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
