"""Real servers on loopback for the channels to talk to: an HTTP server that records what it
gets and answers as told (Slack's webhook protocol, Slack's Web API, any webhook receiver),
an SMTP server (aiosmtpd), a port nobody listens on, and one that never answers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.engine import Database
from plait.db.models import Event, Run, TaskAttempt, Workflow
from plait.notifications.rules import on_event
from plait.notifications.worker import DeliveryWorker
from plait.settings import Settings
from tests.conftest import Account

PUBLIC_URL = "https://plait.example.com"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Quick retries and short timeouts; the tests drive the delivery worker themselves."""
    return settings.model_copy(
        update={
            "public_url": PUBLIC_URL,
            "notify_worker": False,
            "notify_max_attempts": 3,
            "notify_retry_seconds": 0.05,
            "notify_timeout_seconds": 1.0,
            "notify_poll_seconds": 0.05,
        }
    )


@pytest.fixture
def worker(app: FastAPI, settings: Settings) -> DeliveryWorker:
    return DeliveryWorker(app.state.plait.db, settings)


# --- HTTP -----------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Loopback:
    """An HTTP server on 127.0.0.1 that records each request and answers `status`/`body`."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    body: bytes = b"ok"
    content_type: str = "text/plain"

    def answer(self, status: int, body: bytes | dict[str, Any]) -> None:
        if isinstance(body, dict):
            self.body, self.content_type = json.dumps(body).encode(), "application/json"
        else:
            self.body, self.content_type = body, "text/plain"
        self.status = status


def _handler(state: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet test output

    return Handler


@pytest.fixture
def http_server() -> Iterator[Loopback]:
    state = Loopback(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def dead_port() -> int:
    """A loopback port with nothing listening: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never says a word: the worst
    kind of dead server, which only a timeout gets past."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


# --- SMTP -----------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def smtp_server(smtp_port: int) -> Iterator[Inbox]:
    """A plain SMTP server on loopback."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


# --- rows -----------------------------------------------------------------------------------


async def api(
    client: httpx.AsyncClient, who: Account, method: str, path: str, body: Any = None
) -> Any:
    response = await client.request(method, f"/api/v1{path}", json=body, headers=who.headers)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


async def channel(client: httpx.AsyncClient, who: Account, **doc: Any) -> dict[str, Any]:
    body: dict[str, Any] = await api(client, who, "POST", "/channels", doc)
    return body


async def rule(
    client: httpx.AsyncClient, who: Account, channel_id: int, events: list[str], **extra: Any
) -> dict[str, Any]:
    doc = {"name": "r", "channel_id": channel_id, "events": events, **extra}
    body: dict[str, Any] = await api(client, who, "POST", "/rules", doc)
    return body


@dataclass
class FakeRun:
    workflow_id: int
    run_id: int


async def finished_run(
    db: Database,
    workflow: str,
    status: str,
    attempts: list[tuple[str, str, str | None]],
    seconds: float = 75.0,
) -> FakeRun:
    """A run that has ended, written straight to the database (no process runs): `attempts`
    are (task key, status, error)."""
    end = datetime.now(UTC)
    async with db.write() as session:
        wf = (await session.execute(select(Workflow).where(Workflow.name == workflow))).scalar_one()
        run = Run(
            workflow_id=wf.id,
            workflow_version=1,
            params={},
            status=status,
            trigger="manual",
            started_at=end - timedelta(seconds=seconds),
            finished_at=end,
        )
        session.add(run)
        await session.flush()
        for i, (key, state, error) in enumerate(attempts):
            session.add(
                TaskAttempt(
                    run_id=run.id,
                    task_key=key,
                    status=state,
                    error=error,
                    outputs={},
                    finished_at=end - timedelta(seconds=10 - i),
                )
            )
        return FakeRun(wf.id, run.id)


async def event(db: Database, type: str, run: FakeRun, **data: Any) -> Event:
    """An outbox row as the engine writes it (the dispatcher is not needed to test rules)."""
    async with db.write() as session:
        row = Event(type=type, workflow_id=run.workflow_id, run_id=run.run_id, data=data)
        session.add(row)
        await session.flush()
        return row


async def handle(db: Database, row: Event) -> None:
    """What the dispatcher does with each event: the handler, in a write transaction."""
    async with db.write() as session:
        await on_event(session, row)


@pytest.fixture
def db(app: FastAPI) -> Database:
    database: Database = app.state.plait.db
    return database
