"""The worker's runtime and HTTP client against a stand-in for the execution API: what a
worker does when the server restarts, refuses, or says to stop an attempt."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from plait.settings import Settings
from plait.worker.client import ExecApi, Refused, Unreachable
from plait.worker.runtime import Runtime

pytestmark = pytest.mark.timeout(60)


def api(handler: Any, retry_seconds: float = 5.0) -> ExecApi:
    return ExecApi("http://plait.test", "secret", retry_seconds, httpx.MockTransport(handler))


async def test_a_request_is_retried_while_the_server_restarts() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused")
        if len(calls) == 2:
            return httpx.Response(503, json={"detail": "starting"})
        return httpx.Response(200, json={"cancel": []})

    assert await api(handler).heartbeat({"worker": "w"}) == []
    assert calls == ["/api/v1/exec/workers/heartbeat"] * 3


async def test_a_refusal_is_never_retried_and_an_absent_server_is_given_up() -> None:
    calls: list[int] = []

    def forbidden(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(403, json={"detail": "not your attempt"})

    with pytest.raises(Refused, match="not your attempt"):
        await api(forbidden).reports(7, [])
    assert calls == [1]

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(Unreachable):
        await api(down, retry_seconds=0.5).heartbeat({})


class FakeServer(ExecApi):
    """Hands out one job, keeps what the worker ships, and says `cancel` when told to."""

    def __init__(self, code: str) -> None:
        super().__init__("http://plait.test", "secret")
        self.code = code
        self.claims = 0
        self.sent: list[dict[str, Any]] = []
        self.batches: list[int] = []
        self.text = b""
        self.cancel = False

    async def claim(self, attempt_id: int, worker: str) -> dict[str, Any] | None:
        self.claims += 1
        if any(r["type"] == "exited" for r in self.sent):
            return None  # as the server does: it has ended
        # Otherwise the job, again: the server's claim is idempotent for its worker's retry.
        job = {"attempt_id": attempt_id, "run_id": 1, "workflow": "wf", "task_key": "t",
               "attempt": 1, "kind": "python", "body": self.code}  # fmt: skip
        return {"job": job, "heartbeat_seconds": 0.2}

    async def reports(self, attempt_id: int, reports: list[dict[str, Any]]) -> bool:
        self.sent += reports
        self.batches.append(len(reports))
        return self.cancel

    async def log(self, attempt_id: int, offset: int, data: bytes) -> int:
        if offset != len(self.text):
            return len(self.text)  # the 409: where the server's copy ends
        self.text += data
        return len(self.text)

    async def heartbeat(self, body: dict[str, Any]) -> list[int]:
        return []


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", heartbeat_seconds=0.2, kill_grace_seconds=0.5,
                    task_sandbox="off")  # fmt: skip


async def test_an_attempt_runs_once_and_its_records_then_its_exit_are_shipped(
    settings: Settings,
) -> None:
    code = "import plait, time\nprint('hi')\nplait.log_metric('m', 1.0)\ntime.sleep(1)\n"
    server = FakeServer(code)
    runtime = Runtime(settings, server, ["default"], 2)
    runtime.start()
    try:
        # One message delivered twice to this worker, at once (two of its threads):
        await asyncio.gather(asyncio.to_thread(runtime.run, 5), asyncio.to_thread(runtime.run, 5))
        await asyncio.to_thread(runtime.run, 5)  # and again after it ended
    finally:
        runtime.stop()
    kinds = [r["type"] for r in server.sent if r["type"] != "heartbeat"]
    assert (kinds, server.text) == (["metric", "exited"], b"hi\n")
    assert server.sent[-1]["exit_code"] == 0
    assert not (settings.data_dir / "runs" / "1" / "t" / "1").exists()  # shipped: removed


async def test_a_cancel_in_the_answer_to_a_report_stops_the_task(settings: Settings) -> None:
    server = FakeServer("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    server.cancel = True
    runtime = Runtime(settings, server, ["default"], 2)
    runtime.start()
    began = time.monotonic()
    try:
        await asyncio.to_thread(runtime.run, 9)
    finally:
        runtime.stop()
    assert time.monotonic() - began < 20
    assert server.sent[-1]["type"] == "exited"
    assert server.sent[-1]["reason"] == "cancelled"


async def test_many_records_go_in_batches_the_api_takes(settings: Settings) -> None:
    code = "import plait\nfor i in range(2500):\n    plait.log_metric('m', i, step=i)\n"
    server = FakeServer(code)
    runtime = Runtime(settings, server, ["default"], 1)
    runtime.start()
    try:
        await asyncio.to_thread(runtime.run, 3)
    finally:
        runtime.stop()
    steps = [r["step"] for r in server.sent if r["type"] == "metric"]
    assert steps == list(range(2500))
    assert max(server.batches) <= 1000 and server.sent[-1]["type"] == "exited"
