"""Live events over /ws: every transition in order, replay on reconnect, auth, topics and
slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from plait.auth.roles import Principal, Role
from plait.events.hub import Hub
from tests.conftest import ADMIN_PASSWORD

Socket = ClientConnection


async def token(base: str, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    async with httpx.AsyncClient(base_url=f"http://{base}") as http:
        reply = await http.post("/api/v1/auth/login", json={"username": username,
                                                            "password": password})  # fmt: skip
        value: str = reply.json()["access_token"]
        return value


async def subscribe(ws: Socket, topics: list[str], since: int | None = None) -> dict[str, Any]:
    command: dict[str, Any] = {"op": "subscribe", "topics": topics}
    if since is not None:
        command["since"] = since
    await ws.send(json.dumps(command))
    return await until(ws, lambda m: m["op"] == "subscribed")


async def until(ws: Socket, done: Any, seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if seen is not None and message["op"] == "event":
                seen.append(message)
            if done(message):
                return message


async def start_run(base: str, bearer: str, tasks: list[dict[str, Any]]) -> int:
    h = {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=f"http://{base}", headers=h) as http:
        made = await http.post("/api/v1/workflows", json={"name": "wf", "tasks": tasks})
        assert made.status_code == 201, made.text
        run = await http.post("/api/v1/workflows/wf/runs", json={})
        run_id: int = run.json()["id"]
        return run_id


TWO: list[dict[str, Any]] = [
    {"key": "a", "kind": "python", "code": "import plait; plait.log_metric('m', 1.0)"},
    {"key": "b", "kind": "shell", "command": "sleep 0.3", "depends_on": ["a"]},
]
FINISHED = ("run.succeeded", "run.failed", "run.cancelled")


async def test_a_client_sees_every_transition_in_order_and_catches_up_after_a_reconnect(
    live_url: str,
) -> None:
    bearer = await token(live_url)
    url = f"ws://{live_url}/ws?token={bearer}"
    seen: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        await subscribe(ws, ["*"])
        run_id = await start_run(live_url, bearer, TWO)
        # leave as soon as task a succeeds: b runs on while nobody listens
        await until(ws, lambda m: m.get("type") == "task.succeeded", seen)
    last = seen[-1]["id"]
    missed: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": [f"run:{run_id}"], "since": last}))
        await until(ws, lambda m: m.get("type") in FINISHED, missed)
    everything = seen + missed
    ids = [m["id"] for m in everything]
    assert ids == sorted(set(ids)), "duplicates or out of order"
    run_events = [
        (m["type"], m["data"].get("task_key")) for m in everything if m["run_id"] == run_id
    ]
    assert run_events == [
        ("run.queued", None), ("run.running", None),
        ("task.queued", "a"), ("task.running", "a"), ("metric", "a"), ("task.succeeded", "a"),
        ("task.queued", "b"), ("task.running", "b"), ("task.succeeded", "b"),
        ("run.succeeded", None),
    ]  # fmt: skip
    assert all(m["run_id"] == run_id for m in missed)


async def test_no_anonymous_sockets(live_url: str) -> None:
    for url in (f"ws://{live_url}/ws", f"ws://{live_url}/ws?token=forged"):
        async with websockets.connect(url) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_only_your_own_user_topic(live_url: str) -> None:
    admin = await token(live_url)
    h = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=f"http://{live_url}", headers=h) as http:
        await http.post("/api/v1/users", json={"username": "v", "password": "viewer-pass-1"})
    viewer = await token(live_url, "v", "viewer-pass-1")
    async with websockets.connect(f"ws://{live_url}/ws?token={viewer}") as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": ["user:1"]}))
        error = await until(ws, lambda m: m["op"] == "error")
        assert "user:1" in error["detail"]
        await ws.send(json.dumps({"op": "subscribe", "topics": ["user:2", "run:5"]}))
        ok = await until(ws, lambda m: m["op"] == "subscribed")
        assert ok["topics"] == ["run:5", "user:2"]


async def test_stats_count_connections_subscriptions_and_events(live_url: str) -> None:
    bearer = await token(live_url)
    url = f"ws://{live_url}/ws?token={bearer}"
    h = {"Authorization": f"Bearer {bearer}"}
    async with websockets.connect(url) as one, websockets.connect(url) as two:
        await subscribe(one, ["*"])
        await subscribe(two, ["*", "workflow:1"])
        async with httpx.AsyncClient(base_url=f"http://{live_url}", headers=h) as http:
            stats = (await http.get("/ws/stats")).json()
        assert stats["connections"] == 2
        assert stats["subscriptions"] == {"*": 2, "workflow:1": 1}
        await start_run(live_url, bearer, TWO)
        for ws in (one, two):
            await until(ws, lambda m: m.get("type") in FINISHED)
    async with httpx.AsyncClient(base_url=f"http://{live_url}", headers=h) as http:
        stats = (await http.get("/ws/stats")).json()
    assert stats["connections"] == 0 and stats["events_sent"] >= 2 * 10


def test_a_slow_client_is_dropped_and_the_others_get_everything() -> None:
    hub = Hub(queue_size=5)
    slow = hub.connect(Principal(1, "slow", Role.viewer))
    fast = hub.connect(Principal(2, "fast", Role.viewer))
    fast.queue = asyncio.Queue(100)
    slow.topics = fast.topics = {"*"}
    hub.deliver([{"id": i, "run_id": 1} for i in range(1, 21)])
    assert hub.dropped == 1 and slow not in hub.clients and fast in hub.clients
    queued = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert queued == [None]  # nothing half-sent: a reconnect replays from its last id
    received = [fast.queue.get_nowait() for _ in range(20)]
    assert [m.id for m in received if m is not None] == list(range(1, 21))


async def test_task_output_streams_as_log_events(live_url: str) -> None:
    bearer = await token(live_url)
    printing = [{"key": "talk", "kind": "python",
                 "code": "import time\nfor i in range(3):\n    print('line', i, flush=True)\n"
                         "    time.sleep(0.3)\n"}]  # fmt: skip
    seen: list[dict[str, Any]] = []
    async with websockets.connect(f"ws://{live_url}/ws?token={bearer}") as ws:
        await subscribe(ws, ["*"])
        await start_run(live_url, bearer, printing)
        await until(ws, lambda m: m.get("type") in FINISHED, seen)
    logs = [m["data"] for m in seen if m["type"] == "log"]
    assert "".join(d["text"] for d in logs) == "line 0\nline 1\nline 2\n"
    assert all(d["task_key"] == "talk" and d["attempt"] == 1 for d in logs)


ACCESS_ENDED = 4403


async def _closed_code(ws: Socket) -> int | None:
    """Read until the server closes the socket; its close code."""
    async with asyncio.timeout(20):
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code


@pytest.mark.parametrize("change", ["delete", "disable", "demote", "password"])
async def test_a_socket_closes_when_its_account_is_deleted_disabled_or_demoted(
    live_url: str, change: str
) -> None:
    admin = {"Authorization": f"Bearer {await token(live_url)}"}
    async with httpx.AsyncClient(base_url=f"http://{live_url}", headers=admin) as http:
        body = {"username": "bob", "password": "bob-password-1", "role": "admin"}
        bob = (await http.post("/api/v1/users", json=body)).json()
        bearer = await token(live_url, "bob", "bob-password-1")
        async with websockets.connect(f"ws://{live_url}/ws?token={bearer}") as ws:
            await subscribe(ws, ["*", "user:1"])
            if change == "delete":
                done = await http.delete(f"/api/v1/users/{bob['id']}")
            else:
                patch = {"disable": {"is_active": False}, "demote": {"role": "viewer"},
                         "password": {"password": "new-password-1"}}[change]  # fmt: skip
                done = await http.patch(f"/api/v1/users/{bob['id']}", json=patch)
            assert done.is_success, done.text
            assert await _closed_code(ws) == ACCESS_ENDED
