"""Attempts run on `plait worker` processes: what they report reaches the API, work spreads
over the workers, queues route it, a message delivered twice runs its attempt once, and an
attempt whose worker is killed is retried by its policy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.celery.conftest import Live, StartWorker
from tests.support.celery import Worker

pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.timeout(180)]

REPORTING = """
import plait
print("hello from a worker")
plait.log_metric("loss", 0.25, step=1)
plait.set_output("answer", 42)
with open("model.txt", "w") as f:
    f.write("weights")
plait.log_artifact("model.txt")
"""


def attempts(run: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = next(t for t in run["tasks"] if t["key"] == key)["attempts"]
    return found


def test_a_run_on_a_worker_shows_its_output_metric_log_and_artifact(
    live: Live, start_worker: StartWorker
) -> None:
    worker = start_worker()
    run_id = live.start_run([{"key": "train", "kind": "python", "code": REPORTING}])
    run = live.finished(run_id)
    assert run["status"] == "succeeded", run
    [attempt] = attempts(run, "train")
    assert (attempt["outputs"], attempt["worker"]) == ({"answer": 42}, worker.name)
    metrics = live.http.get(f"/api/v1/runs/{run_id}/metrics").json()
    assert [(m["key"], m["value"], m["step"]) for m in metrics] == [("loss", 0.25, 1)]
    log = live.http.get(f"/api/v1/runs/{run_id}/tasks/train/logs").json()
    assert "hello from a worker" in log["content"]
    [artifact] = live.http.get(f"/api/v1/runs/{run_id}/artifacts").json()
    assert artifact["name"] == "model.txt"
    content = live.http.get(f"/api/v1/runs/{run_id}/artifacts/{artifact['id']}")
    assert content.content == b"weights"


def test_a_fan_out_of_50_tasks_spreads_over_two_workers(
    live: Live, start_worker: StartWorker
) -> None:
    workers = [start_worker(concurrency=4), start_worker(concurrency=4)]
    tasks = [{"key": f"t{i}", "kind": "python", "code": "import time; time.sleep(0.3)"}
             for i in range(50)]  # fmt: skip
    run = live.finished(live.start_run(tasks), seconds=120)
    assert run["status"] == "succeeded"
    ran_on = {attempts(run, f"t{i}")[0]["worker"] for i in range(50)}
    assert ran_on == {w.name for w in workers}


def test_a_task_with_a_queue_runs_only_on_a_worker_of_that_queue(
    live: Live, start_worker: StartWorker
) -> None:
    cpu, gpu = start_worker("default"), start_worker("gpu")
    tasks = [{"key": f"plain{i}", "kind": "shell", "command": "sleep 0.2"} for i in range(4)]
    tasks += [{"key": f"fit{i}", "kind": "shell", "command": "sleep 0.2", "queue": "gpu"}
              for i in range(4)]  # fmt: skip
    run = live.finished(live.start_run(tasks))
    assert run["status"] == "succeeded"
    assert {attempts(run, f"fit{i}")[0]["worker"] for i in range(4)} == {gpu.name}
    assert {attempts(run, f"plain{i}")[0]["worker"] for i in range(4)} == {cpu.name}


def test_a_message_delivered_twice_runs_its_task_once(
    live: Live, start_worker: StartWorker, tmp_path: Path
) -> None:
    worker = start_worker(concurrency=3)
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'a').write('ran\\n'); import time; time.sleep(2)"
    run_id = live.start_run([{"key": "once", "kind": "python", "code": code}])
    run = live.until(run_id, lambda r: attempts(r, "once")[0]["status"] == "running")
    attempt_id = attempts(run, "once")[0]["id"]
    live.broker.send(attempt_id)  # while it runs
    run = live.finished(run_id)
    live.broker.send(attempt_id)  # and after it ended
    _until(lambda: worker.output().count(f"attempt {attempt_id} not run") == 2, worker)
    assert run["status"] == "succeeded"
    assert marker.read_text() == "ran\n"
    assert len(attempts(live.run(run_id), "once")) == 1


def test_an_attempt_whose_worker_is_killed_is_retried_and_the_run_finishes(
    live: Live, start_worker: StartWorker
) -> None:
    first = start_worker(concurrency=1)
    code = ("import os, time\n"
            "if os.environ['PLAIT_ATTEMPT'] == '1':\n    time.sleep(120)\n"
            "print('second try')\n")  # fmt: skip
    task = {"key": "fit", "kind": "python", "code": code, "retries": 1, "retry_delay": 0}
    run_id = live.start_run([task])
    live.until(run_id, lambda r: attempts(r, "fit")[0]["status"] == "running")
    first.kill()  # kill -9, mid-task
    second = start_worker(concurrency=1)
    run = live.finished(run_id, seconds=90)
    assert run["status"] == "succeeded", run
    lost, retried = attempts(run, "fit")
    assert (lost["status"], lost["worker"]) == ("up_for_retry", first.name)
    assert "no heartbeat" in (lost["error"] or "")
    assert (retried["status"], retried["worker"]) == ("succeeded", second.name)


def _until(check: Any, worker: Worker, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not seen in the worker's log:\n{worker.output()[-3000:]}")


def test_an_idle_worker_told_to_stop_exits_cleanly_at_once(start_worker: StartWorker) -> None:
    """SIGTERM (systemd's stop, Ctrl-C) ends the worker by itself, exit code 0, well before
    a service manager's patience runs out; on RabbitMQ it used to sit out a 10 s wait."""
    worker = start_worker()
    worker.terminate()
    assert worker.process.wait(timeout=6) == 0, worker.output()
