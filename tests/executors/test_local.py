"""The local executor's reading of an attempt's records, with no real process: what a task
writes to its events file is bounded and checked, and a bad record costs only its attempt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plait.executors.base import Dispatch
from plait.executors.local import LocalExecutor, _Proc
from plait.executors.reports import Exited, Report
from plait.settings import Settings


def executor_and_proc(tmp_path: Path, attempt_id: int = 1) -> tuple[LocalExecutor, _Proc]:
    executor = LocalExecutor(Settings(data_dir=tmp_path / "data", secret_key="k" * 40))
    job = Dispatch(attempt_id=attempt_id, run_id=1, workflow="w", task_key=f"t{attempt_id}",
                   attempt=1, kind="python", body="pass")  # fmt: skip
    proc = _Proc.of(tmp_path / "data", job)
    proc.dir.mkdir(parents=True)
    proc.artifacts.mkdir(parents=True)
    proc.pid = 12345
    return executor, proc


def write(proc: _Proc, *records: dict[str, Any] | bytes) -> None:
    with open(proc.dir / "events.jsonl", "ab") as f:
        for record in records:
            f.write(record if isinstance(record, bytes) else json.dumps(record).encode() + b"\n")


async def finish(executor: LocalExecutor, proc: _Proc, code: int) -> list[Report]:
    emitted: list[Report] = []
    executor._emit = emitted.append
    executor._finished(proc, code)
    while executor.active():
        await executor._close(executor._closing[proc.job.attempt_id])
    return emitted


async def test_the_tasks_error_survives_a_heartbeat_draining_it_before_the_exit(
    tmp_path: Path,
) -> None:
    """The child writes its error, then exits; a heartbeat can read the error in between.
    The attempt must still end with the task's own error, not a generic exit code."""
    executor, proc = executor_and_proc(tmp_path)
    (proc.dir / "output.log").write_text("Traceback ...\nRuntimeError: boom\n")
    write(proc, {"type": "error", "message": "RuntimeError: boom", "ts": 0})

    heartbeat = executor._drain(proc)  # what _heartbeats does between the write and the exit
    emitted = await finish(executor, proc, 1)

    assert [r.type for r in heartbeat] == ["error"]
    exited = [r for r in emitted if isinstance(r, Exited)]
    assert exited[0].error == "RuntimeError: boom"
