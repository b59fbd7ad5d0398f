"""The deployment's processes for real: the Procfile's server and scheduler under honcho run
a workflow; a `plait scheduler` killed with SIGKILL mid-run is replaced and the run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import clean_env, free_port, http_login, plait_command
from tests.conftest import SECRET, new_pg_database

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "processes-admin-1"
pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.timeout(180)]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with new_pg_database("plait_procs") as url:
        yield url


def plait_env(pg_url: str, data_dir: Path) -> dict[str, str]:
    return {"PLAIT_DATABASE_URL": pg_url, "PLAIT_SECRET_KEY": SECRET,
            "PLAIT_ADMIN_PASSWORD": PASSWORD, "PLAIT_LOAD_DEMO": "false",
            "PLAIT_DATA_DIR": str(data_dir), "PLAIT_TICK_SECONDS": "0.2",
            "PLAIT_HEARTBEAT_SECONDS": "0.2", "PLAIT_ZOMBIE_SECONDS": "5",
            "PLAIT_TASK_WRITABLE_PATHS": str(data_dir.parent)}  # fmt: skip


def start_run(url: str, tasks: list[dict[str, Any]]) -> tuple[dict[str, str], int]:
    token = http_login(url, PASSWORD).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    made = httpx.post(f"{url}/api/v1/workflows", json={"name": "wf", "tasks": tasks},
                      headers=auth, timeout=10)  # fmt: skip
    assert made.status_code == 201, made.text
    run = httpx.post(f"{url}/api/v1/workflows/wf/runs", json={}, headers=auth, timeout=10)
    assert run.status_code == 201, run.text
    return auth, int(run.json()["id"])


def wait_run(url: str, auth: dict[str, str], run_id: int, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        run: dict[str, Any] = httpx.get(f"{url}/api/v1/runs/{run_id}", headers=auth).json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.1)


def wait_ready(url: str, process: subprocess.Popen[bytes], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while True:
        assert process.poll() is None, "the processes stopped"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not get ready"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_the_procfiles_server_and_scheduler_run_a_workflow(tmp_path: Path, pg_url: str) -> None:
    port = free_port()
    env = clean_env(**plait_env(pg_url, tmp_path / "data"), PORT=str(port))
    env["PATH"] = f"{Path(plait_command()[0]).parent}:{env['PATH']}"
    honcho = [str(Path(plait_command()[0]).parent / "honcho"), "-f", str(ROOT / "Procfile"),
              "--no-prefix", "start", "server", "scheduler"]  # fmt: skip
    log = (tmp_path / "honcho.log").open("wb")
    process = subprocess.Popen(honcho, stdout=log, stderr=subprocess.STDOUT, env=env,
                               cwd=tmp_path, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        tasks: list[dict[str, Any]] = [
            {"key": "a", "kind": "python", "code": "print('a')"},
            {"key": "b", "kind": "shell", "command": "echo b", "depends_on": ["a"]},
        ]
        auth, run_id = start_run(url, tasks)
        assert wait_run(url, auth, run_id)["status"] == "succeeded"
    finally:
        stop(process)
        log.close()
    # The server ran without a scheduler of its own: the scheduler process ran the tasks.
    assert "Plait scheduler" in (tmp_path / "honcho.log").read_text(errors="replace")


def scheduler(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*plait_command(), "scheduler"], stdout=out,
                                stderr=subprocess.STDOUT, env=clean_env(**env))  # fmt: skip


def test_a_scheduler_killed_mid_run_is_replaced_and_the_run_finishes(
    tmp_path: Path, pg_url: str
) -> None:
    env = plait_env(pg_url, tmp_path / "data")
    marker = tmp_path / "started"
    slow = f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(2)"
    tasks: list[dict[str, Any]] = [
        {"key": "slow", "kind": "python", "code": slow, "retries": 1},
        {"key": "after", "kind": "python", "code": "pass", "depends_on": ["slow"]},
    ]
    port = free_port()
    api = [*plait_command(), "server", "--port", str(port)]
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(api, stdout=log, stderr=subprocess.STDOUT,
                              env=clean_env(**env, PLAIT_SCHEDULER="false"))  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    first = scheduler(env, tmp_path / "scheduler.log")
    try:
        wait_ready(url, server)
        auth, run_id = start_run(url, tasks)
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline, "the first scheduler never started the task"
            time.sleep(0.05)
        first.kill()  # SIGKILL: no shutdown, no report of what it ran
        first.wait()
        second = scheduler(env, tmp_path / "scheduler.log")
        try:
            run = wait_run(url, auth, run_id, within=90)
        finally:
            stop(second)
    finally:
        stop(first)
        stop(server)
        log.close()
    assert run["status"] == "succeeded", run
