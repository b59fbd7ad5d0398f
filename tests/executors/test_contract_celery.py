"""The executor contract, on the Celery executor: the app served by uvicorn on the test's
event loop (so the API fixtures work as for the local executor, and workers reach it over
HTTP), on PostgreSQL, with one real `plait worker`, on Redis and on RabbitMQ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from plait.api.app import create_app
from plait.settings import Settings
from tests.cli.conftest import free_port
from tests.conftest import ADMIN_PASSWORD
from tests.executors.contract import *  # noqa: F403 (the contract's tests, run here)
from tests.support.celery import BROKERS, Broker, Workers, new_broker

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgresql,
    pytest.mark.timeout(120),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
START_SECONDS = 30.0


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    with new_broker(request.param) as found:
        yield found


@pytest.fixture
def settings(settings: Settings, broker: Broker) -> Settings:
    return settings.model_copy(update={
        "executor": "celery", "broker_url": broker.url, "queue_prefix": broker.prefix,
    })  # fmt: skip


@pytest.fixture
async def app(settings: Settings, broker: Broker, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app, served on a free port, with one worker (4 at once) that talks to it."""
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        await _until_started(server, serving)
        url = f"http://127.0.0.1:{port}"
        workers = Workers(url, await _worker_token(url), broker, tmp_path)
        try:
            await asyncio.to_thread(workers.start, "default", 4)
            yield app
        finally:
            await asyncio.to_thread(workers.stop_all)
    finally:
        server.should_exit = True
        await serving


async def _until_started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if serving.done() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start serving")
        await asyncio.sleep(0.05)


async def _worker_token(url: str) -> str:
    async with httpx.AsyncClient(base_url=url) as http:
        login = await http.post("/api/v1/auth/login",
                                json={"username": "admin", "password": ADMIN_PASSWORD})  # fmt: skip
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        made = await http.post("/api/v1/tokens", json={"name": "contract", "worker": True},
                               headers=headers)  # fmt: skip
        assert made.status_code == 201, made.text
        token: str = made.json()["token"]
        return token
