"""The execution API as a remote worker meets it: a server whose executor only holds what
the scheduler submits (as a broker would), and worker tokens to claim and report with."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plait.executors import EXECUTORS
from plait.executors.base import AttemptRef, Dispatch, Emit
from plait.settings import Settings
from tests.conftest import Account


class HeldExecutor:
    """Takes every job and runs none: a remote worker claims them over HTTP."""

    name = "held"
    queued_timeout = None

    def __init__(self, settings: Settings) -> None:
        self.submitted: list[Dispatch] = []
        self.terminated: list[int] = []

    async def start(self, emit: Emit) -> None:
        pass

    async def submit(self, job: Dispatch) -> None:
        self.submitted.append(job)

    async def terminate(self, attempt_id: int, reason: str) -> None:
        self.terminated.append(attempt_id)

    def active(self) -> set[int]:
        return set()

    def holds(self, attempt_id: int) -> bool:
        return False

    async def capacity(self) -> int:
        return 1000

    async def recover_orphans(self, attempts: list[AttemptRef]) -> set[int]:
        return set()

    async def stop(self) -> None:
        pass


@pytest.fixture
def settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setitem(EXECUTORS, "held", f"{__name__}:HeldExecutor")
    return settings.model_copy(update={"executor": "held"})


async def new_token(
    client: httpx.AsyncClient, who: Account, name: str, worker: bool
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/tokens", json={"name": name, "worker": worker}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['token']}"}


@pytest.fixture
async def worker(client: httpx.AsyncClient, accounts: dict[str, Account]) -> dict[str, str]:
    """The headers of a worker token an admin made."""
    return bearer(await new_token(client, accounts["admin"], "worker-1", worker=True))


@pytest.fixture
async def other_worker(client: httpx.AsyncClient, accounts: dict[str, Account]) -> dict[str, str]:
    return bearer(await new_token(client, accounts["admin"], "worker-2", worker=True))


def held(app: FastAPI) -> HeldExecutor:
    executor = app.state.plait.scheduler.executor
    assert isinstance(executor, HeldExecutor)
    return executor


async def queued_job(app: FastAPI, task_key: str, within: float = 10) -> Dispatch:
    """The job the scheduler handed the executor for `task_key`, once it has."""
    deadline = time.monotonic() + within
    while True:
        jobs = [j for j in held(app).submitted if j.task_key == task_key]
        if jobs:
            return jobs[-1]
        assert time.monotonic() < deadline, f"{task_key} was not dispatched within {within} s"
        await asyncio.sleep(0.02)


async def start_run(
    client: httpx.AsyncClient, who: Account, workflow: dict[str, Any], **params: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/workflows/{workflow['id']}/runs", json={"params": params}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


async def claim(
    client: httpx.AsyncClient, worker: dict[str, str], attempt_id: int, name: str = "box:7"
) -> httpx.Response:
    return await client.post(
        f"/api/v1/exec/attempts/{attempt_id}/claim",
        json={"worker": name, "pid": 4242},
        headers=worker,
    )


async def report(
    client: httpx.AsyncClient, worker: dict[str, str], attempt_id: int, *reports: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/api/v1/exec/attempts/{attempt_id}/reports",
        json={"reports": list(reports)},
        headers=worker,
    )


async def run_state(client: httpx.AsyncClient, who: Account, run_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_status(
    client: httpx.AsyncClient, who: Account, run_id: int, status: str, within: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while (run := await run_state(client, who, run_id))["status"] != status:
        assert time.monotonic() < deadline, f"run {run_id} is {run['status']}, not {status}"
        await asyncio.sleep(0.05)
    return run
