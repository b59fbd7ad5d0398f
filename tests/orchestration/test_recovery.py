"""Crash and restart: a real `plait server` is killed with SIGKILL while a task runs, then
started again on the same data directory. The task it left behind must be killed, its attempt
settled as lost (retried or failed by its policy), and the run must finish cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.cli.conftest import (
    ADMIN_PASSWORD,
    Server,
    clean_env,
    free_port,
    http_login,
    plait_command,
)
from tests.support.processes import is_running

pytestmark = pytest.mark.slow

T = TypeVar("T")
WAIT = 20.0
SETTINGS = {
    "PLAIT_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "PLAIT_LOAD_DEMO": "false",
    "PLAIT_HEARTBEAT_SECONDS": "0.2",
    "PLAIT_TICK_SECONDS": "0.2",
    "PLAIT_KILL_GRACE_SECONDS": "0.5",
    # In the sandbox, tasks die with the server (their pid namespace ends with it), so there
    # is nothing left for recovery to kill: these tests are about the unsandboxed case.
    "PLAIT_TASK_SANDBOX": "off",
}
# First attempt: record the pid of its supervisor (the attempt's process), then hang until
# killed. Any later attempt: succeed at once.
TRAIN = """\
import os, pathlib, time

pid_file = pathlib.Path(os.environ["PID_DIR"]) / "train.pid"
if pid_file.exists():
    print("second attempt")
else:
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(str(os.getppid()))
    tmp.rename(pid_file)
    time.sleep(60)
"""


@dataclass
class Live:
    """A server process and an admin HTTP client aimed at it."""

    process: subprocess.Popen[bytes]
    server: Server
    http: httpx.Client


@contextmanager
def plait_server(tmp: Path) -> Iterator[Live]:
    """`plait server` on `tmp/data`; always stopped (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    server = Server(f"http://127.0.0.1:{port}", logs / f"{port}.out", logs / f"{port}.err")
    command = [*plait_command(), "server", "--port", str(port), "--data-dir", str(tmp / "data")]
    with server.stdout_path.open("wb") as out, server.stderr_path.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=clean_env(**SETTINGS))
        try:
            _wait_ready(process, server)
            token = http_login(server.url, ADMIN_PASSWORD).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
                yield Live(process, server, http)
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], server: Server) -> None:
    def ready() -> bool | None:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.output()}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200 or None
        return None

    poll("the server to be ready", ready, timeout=30)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def poll(what: str, check: Callable[[], T | None], timeout: float = WAIT) -> T:
    """`check()` once it is not None, retried every 0.1 s until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)
    return found


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether `condition()` came true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def pid_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the task writes its pid; whatever still runs from it is killed afterwards."""
    folder = tmp_path / "pids"
    folder.mkdir()
    yield folder
    pid_file = folder / "train.pid"
    if pid_file.exists() and is_running(pid := int(pid_file.read_text())):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def workflow(name: str, pid_dir: Path, retries: int) -> dict[str, Any]:
    return {
        "name": name,
        "tasks": [
            {"key": "train", "kind": "python", "code": TRAIN, "retries": retries,
             "retry_delay": 0, "env": {"PID_DIR": str(pid_dir)}},
            {"key": "report", "kind": "python", "code": "print('report')",
             "depends_on": ["train"]},
        ],
    }  # fmt: skip


def start_run(live: Live, doc: dict[str, Any]) -> int:
    created = live.http.post("/api/v1/workflows", json=doc)
    assert created.status_code == 201, created.text
    started = live.http.post(f"/api/v1/workflows/{doc['name']}/runs", json={})
    assert started.status_code == 201, started.text
    run_id: int = started.json()["id"]
    return run_id


def get_run(live: Live, run_id: int) -> dict[str, Any]:
    response = live.http.get(f"/api/v1/runs/{run_id}")
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def task(run: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in run["tasks"] if t["key"] == key)
    return found


def wait_train_running(live: Live, run_id: int, pid_dir: Path) -> int:
    """The pid of the running first attempt of `train`, once the API shows it running."""

    def running() -> int | None:
        pid_file = pid_dir / "train.pid"
        if not pid_file.exists() or task(get_run(live, run_id), "train")["status"] != "running":
            return None
        return int(pid_file.read_text())

    return poll("train to run", running)


def crash(live: Live) -> None:
    """SIGKILL the server process alone: no shutdown code of it runs."""
    os.kill(live.process.pid, signal.SIGKILL)
    live.process.wait(timeout=10)


def wait_finished(live: Live, run_id: int) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run = get_run(live, run_id)
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    return poll(f"run {run_id} to finish", finished)


@dataclass
class Crash:
    run_id: int
    attempt_id: int  # the attempt of `train` that ran
    pid: int  # its process


def crash_while_training(tmp_path: Path, pid_dir: Path, retries: int) -> Crash:
    """A run whose `train` task runs when its server is killed."""
    with plait_server(tmp_path) as first:
        run_id = start_run(first, workflow(f"crash{retries}", pid_dir, retries))
        pid = wait_train_running(first, run_id, pid_dir)
        (attempt,) = task(get_run(first, run_id), "train")["attempts"]
        assert attempt["pid"] == pid
        crash(first)
    assert is_running(pid), "the task should outlive its killed server (or the test is moot)"
    return Crash(run_id, attempt["id"], pid)


@contextmanager
def bystander(attempt_id: int) -> Iterator[int]:
    """A process that is no task of this server, though its environment says it runs attempt
    `attempt_id`, as a task of another Plait server on the host (another data directory)
    does: a recovering server must leave it alone."""
    env = clean_env(PLAIT_ATTEMPT_ID=str(attempt_id), PLAIT_RUN_ID="1")
    process = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def restart_and_finish(tmp_path: Path, crashed: Crash) -> dict[str, Any]:
    """Restart on the same data directory: the orphan dies, nothing else does, and the run
    finishes."""
    with bystander(crashed.attempt_id) as other, plait_server(tmp_path) as second:
        spared = is_running(other)  # recovery is done once the server is ready
        killed = wait_until(lambda: not is_running(crashed.pid), timeout=5)
        run = wait_finished(second, crashed.run_id)
        output = second.server.output()
    assert (killed, spared) == (True, True), (
        f"orphaned task {crashed.pid} killed: {killed}; unrelated process {other} spared: {spared}"
    )
    assert "Traceback" not in output, output
    assert "scheduler step failed" not in output, output
    return run


def assert_settled(run: dict[str, Any]) -> None:
    """No attempt of the run is left waiting or running."""
    statuses = [a["status"] for t in run["tasks"] for a in t["attempts"]]
    assert not {"pending", "queued", "running"} & set(statuses), statuses


def assert_lost(attempt: dict[str, Any], status: str) -> None:
    assert attempt["status"] == status, attempt
    assert "lost" in (attempt["error"] or ""), attempt
    assert attempt["finished_at"] is not None


def test_attempt_lost_in_a_crash_is_retried_after_restart(tmp_path: Path, pid_dir: Path) -> None:
    crashed = crash_while_training(tmp_path, pid_dir, retries=1)
    run = restart_and_finish(tmp_path, crashed)
    assert run["status"] == "succeeded", run
    first, second = task(run, "train")["attempts"]
    assert_lost(first, "up_for_retry")
    assert (second["attempt"], second["status"], second["exit_code"]) == (2, "succeeded", 0)
    assert second["pid"] != crashed.pid
    assert [a["status"] for a in task(run, "report")["attempts"]] == ["succeeded"]
    assert_settled(run)


def test_attempt_lost_in_a_crash_fails_the_run_without_retries(
    tmp_path: Path, pid_dir: Path
) -> None:
    crashed = crash_while_training(tmp_path, pid_dir, retries=0)
    run = restart_and_finish(tmp_path, crashed)
    assert run["status"] == "failed", run
    (only,) = task(run, "train")["attempts"]
    assert_lost(only, "failed")
    assert [a["status"] for a in task(run, "report")["attempts"]] == ["upstream_failed"]
    assert run["finished_at"] is not None
    assert_settled(run)


# Wait for the test's go, count this execution, end.
ONCE = """\
import os, pathlib, time

here = pathlib.Path(os.environ["PID_DIR"])
(here / (os.environ["PLAIT_TASK_KEY"] + ".pid")).write_text(str(os.getpid()))
while not (here / "go").exists():
    time.sleep(0.02)
with open(here / "executions", "a") as f:
    f.write(os.environ["PLAIT_TASK_KEY"] + "\\n")
"""
KEYS = [f"t{i}" for i in range(6)]


def test_tasks_that_finished_before_a_crash_do_not_run_again(tmp_path: Path, pid_dir: Path) -> None:
    """The server is frozen (SIGSTOP) so it applies nothing, its tasks finish, then it is
    killed (SIGKILL): their ends reached no database. After a restart each ran once."""
    doc = {"name": "once", "tasks": [
        {"key": k, "kind": "python", "code": ONCE, "retries": 1, "retry_delay": 0,
         "env": {"PID_DIR": str(pid_dir)}} for k in KEYS
    ]}  # fmt: skip
    with plait_server(tmp_path) as first:
        run_id = start_run(first, doc)
        poll("every task to run", lambda: _all_running(first, run_id, pid_dir) or None)
        pids = [int((pid_dir / f"{k}.pid").read_text()) for k in KEYS]
        first.process.send_signal(signal.SIGSTOP)
        (pid_dir / "go").touch()
        poll("every task to end and be reaped", lambda: _all_gone(pids) or None)
        crash(first)
    with plait_server(tmp_path) as second:
        run = wait_finished(second, run_id)
    executions = sorted((pid_dir / "executions").read_text().split())
    assert executions == KEYS, executions
    assert run["status"] == "succeeded", run
    assert [[a["status"] for a in task(run, k)["attempts"]] for k in KEYS] == [["succeeded"]] * 6


def _all_running(live: Live, run_id: int, pid_dir: Path) -> bool:
    run = get_run(live, run_id)
    pids = all((pid_dir / f"{k}.pid").exists() for k in KEYS)
    return pids and all(task(run, k)["status"] == "running" for k in KEYS)


def _all_gone(pids: list[int]) -> bool:
    """Ended and reaped by the fork server (a zombie still has its /proc entry)."""
    return not any(os.path.exists(f"/proc/{pid}") for pid in pids)
