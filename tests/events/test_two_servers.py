"""Two server processes on one PostgreSQL and the real Redis: an event caused through one
reaches a WebSocket client of the other."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.cli.conftest import http_login, serve
from tests.conftest import SECRET, new_pg_database

REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "two-servers-admin-1"

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url() -> Iterator[str]:
    with new_pg_database("plait_two") as url:
        yield url


@pytest.mark.postgresql
async def test_an_event_caused_on_one_server_reaches_a_socket_on_the_other(
    tmp_path: Path, pg_url: str
) -> None:
    env = {"PLAIT_DATABASE_URL": pg_url, "PLAIT_REDIS_URL": REDIS_URL, "PLAIT_SECRET_KEY": SECRET,
           "PLAIT_ADMIN_PASSWORD": PASSWORD, "PLAIT_LOAD_DEMO": "false"}  # fmt: skip
    logs = tmp_path / "logs"
    with serve(tmp_path / "a", logs, **env) as first, serve(tmp_path / "b", logs, **env) as second:
        token = http_login(first.url, PASSWORD).json()["access_token"]
        other = second.url.removeprefix("http://")
        async with websockets.connect(f"ws://{other}/ws?token={token}") as ws:
            await ws.send(json.dumps({"op": "subscribe", "topics": ["*"]}))
            assert json.loads(await ws.recv())["op"] == "subscribed"
            async with httpx.AsyncClient(base_url=first.url) as http:
                made = await http.post("/api/v1/workflows", json={"name": "made-on-a"},
                                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert made.status_code == 201
            async with asyncio.timeout(10):
                event = json.loads(await ws.recv())
    assert (event["type"], event["data"]["name"]) == ("workflow.created", "made-on-a")
