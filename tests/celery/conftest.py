"""A real `plait server` (PostgreSQL, PLAIT_EXECUTOR=celery) and real `plait worker`
processes, on the real Redis and on the real RabbitMQ.

Every module gets queue names of its own (PLAIT_QUEUE_PREFIX) and, on Redis, a database
number of its own, so tests running at the same time on this machine never take each
other's messages; the queues are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kombu.connection import Connection

from plait.settings import Settings
from plait.worker import broker as plait_broker
from tests.cli.conftest import clean_env, http_login, plait_command, serve
from tests.conftest import SECRET, new_pg_database

PASSWORD = "celery-admin-password-1"
REDIS = "redis://127.0.0.1:6379"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"
QUEUES = ("default", "gpu")
START_SECONDS = 30.0
FINISHED = {"succeeded", "failed", "cancelled"}
# Fast enough that a killed worker's attempt is judged lost within seconds.
TIMINGS = {"PLAIT_HEARTBEAT_SECONDS": "0.5", "PLAIT_ZOMBIE_SECONDS": "3",
           "PLAIT_TICK_SECONDS": "0.2", "PLAIT_KILL_GRACE_SECONDS": "1"}  # fmt: skip


@dataclass
class Broker:
    kind: str
    url: str
    prefix: str

    def env(self) -> dict[str, str]:
        return {"PLAIT_BROKER_URL": self.url, "PLAIT_QUEUE_PREFIX": self.prefix}

    def send(self, attempt_id: int, queue: str | None = None) -> None:
        """A message for the attempt, as the server's executor sends it (once more)."""
        settings = Settings(broker_url=self.url, queue_prefix=self.prefix)
        app = plait_broker.celery_app(settings)
        try:
            app.send_task(plait_broker.TASK, args=[attempt_id],
                          task_id=plait_broker.task_id(attempt_id),
                          queue=plait_broker.queue_name(settings, queue))  # fmt: skip
        finally:
            app.close()

    def delete_queues(self) -> None:
        with Connection(self.url) as conn:  # type: ignore[no-untyped-call]
            for name in QUEUES:
                with contextlib.suppress(Exception), conn.channel() as channel:
                    channel.queue_delete(self.prefix + name)


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    prefix = f"plait-test-{os.getpid()}-{secrets.token_hex(3)}-"
    url = f"{REDIS}/{random.randint(8, 15)}" if request.param == "redis" else AMQP
    found = Broker(request.param, url, prefix)
    yield found
    found.delete_queues()


@dataclass
class Live:
    url: str
    http: httpx.Client
    worker_token: str
    broker: Broker

    def start_run(self, tasks: list[dict[str, Any]]) -> int:
        name = f"wf{secrets.token_hex(4)}"
        made = self.http.post("/api/v1/workflows", json={"name": name, "tasks": tasks})
        assert made.status_code == 201, made.text
        started = self.http.post(f"/api/v1/workflows/{name}/runs", json={})
        assert started.status_code == 201, started.text
        run_id: int = started.json()["id"]
        return run_id

    def run(self, run_id: int) -> dict[str, Any]:
        got = self.http.get(f"/api/v1/runs/{run_id}")
        assert got.status_code == 200, got.text
        found: dict[str, Any] = got.json()
        return found

    def until(self, run_id: int, check: Callable[[dict[str, Any]], bool], seconds: float = 60.0,
              ) -> dict[str, Any]:  # fmt: skip
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if check(run):
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} not there after {seconds} s: {run}")

    def finished(self, run_id: int, seconds: float = 60.0) -> dict[str, Any]:
        return self.until(run_id, lambda run: run["status"] in FINISHED, seconds)


@pytest.fixture(scope="module")
def live(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp(f"celery-{broker.kind}")
    env = {"PLAIT_EXECUTOR": "celery", "PLAIT_SECRET_KEY": SECRET, "PLAIT_LOAD_DEMO": "false",
           "PLAIT_ADMIN_PASSWORD": PASSWORD, **broker.env(), **TIMINGS}  # fmt: skip
    with (
        new_pg_database("plait_celery") as database,
        serve(tmp / "server", tmp / "logs", PLAIT_DATABASE_URL=database, **env) as server,
    ):
        token = http_login(server.url, PASSWORD).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
            made = http.post("/api/v1/tokens", json={"name": "workers", "worker": True})
            assert made.status_code == 201, made.text
            yield Live(server.url, http, made.json()["token"], broker)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def name(self) -> str:
        """As the server records it on the attempts it runs."""
        return f"{socket.gethostname()}:{self.process.pid}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()


StartWorker = Callable[..., Worker]


@pytest.fixture
def start_worker(live: Live, tmp_path: Path) -> Iterator[StartWorker]:
    """Starts `plait worker` processes (ready to consume when returned); all are stopped
    afterwards (SIGTERM, then SIGKILL)."""
    started: list[Worker] = []

    def start(queues: str = "default", concurrency: int = 2) -> Worker:
        number = len(started)
        env = clean_env(PLAIT_URL=live.url, PLAIT_WORKER_TOKEN=live.worker_token,
                        PLAIT_DATA_DIR=str(tmp_path / f"worker{number}"),
                        PLAIT_TASK_WRITABLE_PATHS=str(tmp_path), **live.broker.env(),
                        **TIMINGS)  # fmt: skip
        log = tmp_path / f"worker{number}.log"
        command = [*plait_command(), "worker", "--queues", queues,
                   "--concurrency", str(concurrency)]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        worker = Worker(process, log)
        started.append(worker)
        _until_ready(worker)
        return worker

    yield start
    for worker in started:
        _stop(worker)


def _until_ready(worker: Worker) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited with {worker.process.returncode}:\n"
                               f"{worker.output()}")  # fmt: skip
        if " ready." in worker.output():
            return
        time.sleep(0.05)
    raise RuntimeError(f"worker not ready after {START_SECONDS} s:\n{worker.output()}")


def _stop(worker: Worker) -> None:
    if worker.process.poll() is None:
        worker.process.send_signal(signal.SIGTERM)
    try:
        worker.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()
