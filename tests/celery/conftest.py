"""A real `plait server` (PostgreSQL, PLAIT_EXECUTOR=celery) and real `plait worker`
processes, on the real Redis and on the real RabbitMQ (tests/support/celery.py)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import http_login, serve
from tests.conftest import SECRET, new_pg_database
from tests.support.celery import BROKERS, TIMINGS, Broker, Worker, Workers, new_broker

PASSWORD = "celery-admin-password-1"
FINISHED = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="module", params=BROKERS)
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    with new_broker(request.param) as found:
        yield found


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


StartWorker = Callable[..., Worker]


@pytest.fixture
def start_worker(live: Live, tmp_path: Path) -> Iterator[StartWorker]:
    """Starts `plait worker` processes for the module's server; all stopped afterwards."""
    workers = Workers(live.url, live.worker_token, live.broker, tmp_path)
    yield workers.start
    workers.stop_all()
