"""The local executor's reading of an attempt's records, with no real process: what a task
writes to its events file is bounded and checked, and a bad record costs only its attempt."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from plait.executors import limits
from plait.executors.base import Dispatch
from plait.executors.eventsfile import CHUNK
from plait.executors.local import LocalExecutor, _Proc
from plait.executors.reports import Exited, MetricReport, Report
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
    await asyncio.gather(*executor._background)  # its last records, then its exit
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


async def test_a_flood_is_read_in_bounded_pieces_and_fails_its_attempt_alone(
    tmp_path: Path,
) -> None:
    """A 20 MiB line and 110 MB of junk lines: the reader never holds more than one line's
    bound plus a chunk, stops reading once the flood is clear, and fails this attempt only."""
    executor, proc = executor_and_proc(tmp_path, attempt_id=1)
    _, neighbour = executor_and_proc(tmp_path, attempt_id=2)
    write(proc, {"type": "output", "key": "huge", "value": "x" * (20 << 20)})
    junk = (b"j" * 99 + b"\n") * 10486
    write(proc, *[junk] * 110)
    write(neighbour, {"type": "metric", "key": "acc", "value": 0.5, "step": 1})

    flooded = await finish(executor, proc, 0)
    fine = await finish(executor, neighbour, 0)

    assert proc.events.peak <= limits.MAX_LINE + CHUNK
    assert proc.events.offset < 22 << 20  # it stopped reading: the rest was never loaded
    (exited,) = flooded[-1:]
    assert isinstance(exited, Exited) and exited.reason == "rejected"
    assert exited.error is not None and "more than 100 bad records" in exited.error
    assert [r.type for r in fine] == ["metric", "exited"]
    assert isinstance(fine[-1], Exited) and fine[-1].error is None


async def test_many_records_come_in_bounded_batches_all_before_the_exit(tmp_path: Path) -> None:
    executor, proc = executor_and_proc(tmp_path)
    write(proc, *[{"type": "metric", "key": "loss", "value": i, "step": i} for i in range(2500)])

    first = executor._drain(proc)
    rest = await finish(executor, proc, 0)

    assert len(first) == limits.MAX_RECORDS_PER_BATCH
    steps = [r.step for r in [*first, *rest] if isinstance(r, MetricReport)]
    assert steps == list(range(2500))
    assert isinstance(rest[-1], Exited) and rest[-1].exit_code == 0
