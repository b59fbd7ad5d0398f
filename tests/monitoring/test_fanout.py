"""Event fan-out on /metrics: sockets accepted and connected, events sent to each, slow
clients dropped."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets
from prometheus_client import REGISTRY

from plait.auth.roles import Principal, Role
from plait.events.hub import Hub
from tests.conftest import ADMIN_PASSWORD
from tests.support.scrape import Samples, moved, parse

TASKS = [{"key": "a", "kind": "python", "code": "print('a')"}]


async def login(http: httpx.AsyncClient) -> str:
    reply = await http.post("/api/v1/auth/login",
                            json={"username": "admin", "password": ADMIN_PASSWORD})  # fmt: skip
    token: str = reply.json()["access_token"]
    return token


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


async def events_until_done(ws: Any) -> int:
    """Events received until a run ends."""
    count: int = 0
    async with asyncio.timeout(30):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            count += 1 if message["op"] == "event" else 0
            if message.get("type") == "run.succeeded":
                return count


async def test_sockets_and_the_events_sent_to_them_are_counted(live_url: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live_url}") as http:
        http.headers["Authorization"] = f"Bearer {await login(http)}"
        url = f"ws://{live_url}/ws?token={http.headers['Authorization'][7:]}"
        await http.post("/api/v1/workflows", json={"name": "wf", "tasks": TASKS})
        before = await scrape(http)
        async with websockets.connect(url) as one, websockets.connect(url) as two:
            for ws in (one, two):
                await ws.send(json.dumps({"op": "subscribe", "topics": ["*"]}))
                assert json.loads(await ws.recv())["op"] == "subscribed"
            during = await scrape(http)
            assert (await http.post("/api/v1/workflows/wf/runs", json={})).status_code == 201
            received = [await events_until_done(ws) for ws in (one, two)]
        assert moved(before, during, "plait_websocket_connections_total", route="/ws") == 2
        assert moved(before, during, "plait_websocket_clients") == 2
        for _ in range(100):  # the server notices the sockets closed
            after = await scrape(http)
            if moved(before, after, "plait_websocket_clients") == 0:
                break
            await asyncio.sleep(0.05)
        assert moved(before, after, "plait_websocket_clients") == 0
        assert moved(before, after, "plait_websocket_events_sent_total") >= sum(received) > 0
        assert moved(before, after, "plait_events_published_total") >= received[0]


def test_a_slow_client_dropped_is_counted() -> None:
    def dropped() -> float:
        return REGISTRY.get_sample_value("plait_websocket_clients_dropped_total") or 0.0

    before = dropped()
    hub = Hub(queue_size=5)
    slow = hub.connect(Principal(1, "slow", Role.viewer))
    slow.topics = {"*"}
    hub.deliver([{"id": i, "run_id": 1} for i in range(1, 21)])
    assert dropped() - before == 1
