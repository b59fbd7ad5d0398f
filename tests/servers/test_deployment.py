"""The whole deployment for real: the Procfile's server, scheduler and two Celery workers
under honcho, on PostgreSQL, Redis (bus and broker) and S3 (artifacts); and a second API
server, with a data directory of its own, that streams live the log of a task a worker runs
and then serves its artifact."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import clean_env, free_port, http_login, plait_command
from tests.servers.test_processes import (
    PASSWORD,
    ROOT,
    pg_url,
    plait_env,
    start_run,
    stop,
    wait_ready,
    wait_run,
)
from tests.storage.conftest import bucket, s3_client, s3_endpoint, s3_options
from tests.support.celery import TIMINGS, Broker, new_broker

__all__ = ["bucket", "pg_url", "s3_endpoint"]  # fixtures
pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.timeout(240)]
TASK = """
import pathlib, time, plait
for i in range(6):
    print(f"epoch {i}", flush=True)
    time.sleep(0.5)
pathlib.Path("model.txt").write_text("weights")
plait.log_artifact("model.txt")
"""


@pytest.fixture
def broker() -> Iterator[Broker]:
    with new_broker("redis") as found:
        yield found


def honcho(names: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [str(Path(plait_command()[0]).parent / "honcho"), "-f", str(ROOT / "Procfile"),
               "--no-prefix", "start", *names]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=log.parent, start_new_session=True)  # fmt: skip


def stream(url: str, auth: dict[str, str], seen: list[tuple[float, str]]) -> None:
    """Read the log's live stream, noting when each line arrives."""
    with httpx.stream("GET", url, headers=auth, timeout=60) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                seen.append((time.monotonic(), line))
            if line.startswith("event: end"):
                return


def test_procfile_on_celery_and_a_second_server_serving_a_workers_task(
    tmp_path: Path, pg_url: str, broker: Broker, s3_endpoint: str, bucket: str
) -> None:
    shared = {**plait_env(pg_url, tmp_path / "data"), **broker.env(), **TIMINGS,
              "PLAIT_EXECUTOR": "celery", "PLAIT_REDIS_URL": broker.url.rsplit("/", 1)[0] + "/3",
              "PLAIT_LOG_STORE": "database", "PLAIT_ARTIFACT_STORE": f"s3://{bucket}/plait",
              "PLAIT_ARTIFACT_STORE_OPTIONS": json.dumps(s3_options(s3_endpoint))}  # fmt: skip
    port, other_port = free_port(), free_port()
    path = f"{Path(plait_command()[0]).parent}:{clean_env()['PATH']}"
    env = clean_env(**shared, PORT=str(port), PATH=path)
    processes = [honcho(["server", "scheduler"], env, tmp_path / "honcho.log")]
    url, other = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{other_port}"
    second_env = clean_env(**{**shared, "PLAIT_DATA_DIR": str(tmp_path / "other")},
                           PLAIT_SCHEDULER="false")  # fmt: skip
    try:
        wait_ready(url, processes[0])
        with (tmp_path / "second.log").open("wb") as out:
            processes.append(subprocess.Popen(
                [*plait_command(), "server", "--port", str(other_port)], env=second_env,
                stdout=out, stderr=subprocess.STDOUT,
            ))  # fmt: skip
        wait_ready(other, processes[1])
        token = worker_token(url)
        workers = {**env, "PLAIT_URL": url, "PLAIT_WORKER_TOKEN": token,
                   "PLAIT_DATA_DIR": str(tmp_path / "workers")}  # fmt: skip
        processes.append(honcho(["worker_default", "worker_heavy"], workers,
                                tmp_path / "workers.log"))  # fmt: skip
        check_run(url, other, tmp_path, s3_endpoint, bucket)
    finally:
        for process in reversed(processes):
            stop(process)


def worker_token(url: str) -> str:
    auth = {"Authorization": f"Bearer {http_login(url, PASSWORD).json()['access_token']}"}
    made = httpx.post(f"{url}/api/v1/tokens", json={"name": "workers", "worker": True},
                      headers=auth, timeout=10)  # fmt: skip
    assert made.status_code == 201, made.text
    secret: str = made.json()["token"]
    return secret


def check_run(url: str, other: str, tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    tasks: list[dict[str, Any]] = [
        {"key": "train", "kind": "python", "code": TASK},
        {"key": "report", "kind": "shell", "command": "echo done", "queue": "heavy",
         "depends_on": ["train"]},
    ]  # fmt: skip
    auth, run_id = start_run(url, tasks)
    seen: list[tuple[float, str]] = []
    logs = f"{other}/api/v1/runs/{run_id}/tasks/train/logs/stream"
    reader = threading.Thread(target=stream, args=(logs, auth, seen), daemon=True)
    reader.start()
    run = wait_run(other, auth, run_id, within=120)
    ended = time.monotonic()
    reader.join(timeout=30)

    assert run["status"] == "succeeded", run
    workers = {t["key"]: t["attempts"][-1]["worker"] for t in run["tasks"]}
    assert workers["train"] and workers["report"] and workers["train"] != workers["report"]
    text = "".join(json.loads(line[5:]).get("text", "") for _, line in seen if line[5:].strip())
    assert all(f"epoch {i}" in text for i in range(6)), seen
    first = next(t for t, line in seen if "epoch 0" in line)
    assert first < ended - 1, "the first line arrived only at the end: not live"
    artifacts = httpx.get(f"{other}/api/v1/runs/{run_id}/artifacts", headers=auth).json()
    download = httpx.get(f"{other}/api/v1/runs/{run_id}/artifacts/{artifacts[0]['id']}",
                         headers=auth)  # fmt: skip
    assert download.content == b"weights"
    keys = [o["Key"] for o in s3_client(s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.endswith("model.txt") for k in keys)
