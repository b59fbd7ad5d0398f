"""The local executor's bookkeeping of an attempt's end, without a real process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plait.executors.base import Dispatch
from plait.executors.local import LocalExecutor, _Proc
from plait.settings import Settings


def test_the_tasks_error_survives_a_heartbeat_draining_it_before_the_exit(tmp_path: Path) -> None:
    """The child writes its error, then exits; a heartbeat can read the error in between.
    The attempt must still end with the task's own error, not a generic exit code."""
    executor = LocalExecutor(Settings(data_dir=tmp_path / "data", secret_key="k" * 40))
    emitted: list[dict[str, Any]] = []
    executor._emit = emitted.append
    job = Dispatch(attempt_id=1, run_id=1, workflow="w", task_key="t", attempt=1,
                   kind="python", body="raise RuntimeError('boom')")  # fmt: skip
    proc = _Proc(job=job, dir=tmp_path, pid=12345)
    (tmp_path / "output.log").write_text("Traceback ...\nRuntimeError: boom\n")
    error = {"type": "error", "message": "RuntimeError: boom", "ts": 0}
    (tmp_path / "events.jsonl").write_text(json.dumps(error) + "\n")

    heartbeat = executor._drain(proc)  # what _heartbeats does between the write and the exit
    executor._finished(proc, 1)

    assert [e["type"] for e in heartbeat] == ["error"]
    exited = [e for e in emitted if e["type"] == "exited"]
    assert exited[0]["error"] == "RuntimeError: boom"
