"""Each kind of channel against a real server on loopback, driven through the delivery worker:
SMTP (aiosmtpd), a signed webhook checked with the documented recipe, Slack's incoming
webhook and Web API protocols through slack-sdk; and a dead server, retried and recorded."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import logging
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import select

from plait.db.engine import Database
from plait.db.models import Delivery
from plait.notifications.channels import verify_signature
from plait.notifications.worker import DeliveryWorker
from tests.conftest import Account
from tests.notifications.conftest import (
    PUBLIC_URL,
    Inbox,
    Loopback,
    api,
    channel,
    event,
    finished_run,
    handle,
    rule,
)
from tests.support.workflows import create_workflow

Accounts = dict[str, Account]
SIGNING_KEY = "whsec-0123456789abcdef"


async def failed_run_notice(
    client: httpx.AsyncClient, who: Account, db: Database, channel_doc: dict[str, Any]
) -> int:
    """A channel, a rule for failed runs, and a failed run of "train": one pending delivery."""
    await create_workflow(client, who)
    ch = await channel(client, who, **channel_doc)
    await rule(client, who, ch["id"], ["run.failed"])
    run = await finished_run(db, "train", "failed", [("fit", "failed", "ValueError: bad lr")])
    await handle(db, await event(db, "run.failed", run))
    return run.run_id


async def the_delivery(db: Database) -> Delivery:
    async with db.read() as session:
        return (await session.execute(select(Delivery))).scalar_one()


def smtp_channel(port: int, **config: Any) -> dict[str, Any]:
    base = {
        "host": "127.0.0.1",
        "port": port,
        "security": "plain",
        "sender": "plait@example.com",
        "to": ["ml-team@example.com", "oncall@example.com"],
    }
    return {"name": "mail", "kind": "email", "config": {**base, **config}}


async def test_email_reaches_a_real_smtp_server(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    worker: DeliveryWorker,
    smtp_server: Inbox,
    smtp_port: int,
) -> None:
    run_id = await failed_run_notice(client, accounts["editor"], db, smtp_channel(smtp_port))
    assert await worker.run_once() == 1
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "plait@example.com"
    assert envelope.rcpt_tos == ["ml-team@example.com", "oncall@example.com"]
    assert isinstance(envelope.content, bytes)
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail["Subject"] == f"[Plait] train run #{run_id} failed after 1 min 15 s"
    body = mail.get_body().get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert "Failed task: fit (attempt 1)\nError: ValueError: bad lr\n" in body
    assert f"{PUBLIC_URL}/runs/{run_id}" in body
    delivery = await the_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("sent", 1, 250)
    assert delivery.sent_at is not None and delivery.error is None


@pytest.fixture
def tls_smtp(smtp_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """STARTTLS with a certificate from a throwaway CA that this process trusts, and AUTH."""
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # what OpenSSL trusts

    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        good = isinstance(data, LoginPassword) and data.password == b"smtp-pass-1"
        return AuthResult(success=good, handled=False)  # False: the server answers 535 itself

    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=smtp_port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=check,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


async def test_email_over_starttls_with_auth(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    worker: DeliveryWorker,
    tls_smtp: Inbox,
    smtp_port: int,
) -> None:
    doc = smtp_channel(smtp_port, security="starttls", username="plait")
    await failed_run_notice(client, accounts["editor"], db, {**doc, "secret": "smtp-pass-1"})
    await worker.run_once()
    assert len(tls_smtp.envelopes) == 1
    assert (await the_delivery(db)).status == "sent"


async def test_a_wrong_smtp_password_fails_for_good(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    worker: DeliveryWorker,
    tls_smtp: Inbox,
    smtp_port: int,
) -> None:
    doc = smtp_channel(smtp_port, security="starttls", username="plait")
    await failed_run_notice(client, accounts["editor"], db, {**doc, "secret": "wrong-pass-9"})
    await worker.run_once()
    delivery = await the_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 1, 535), (
        delivery.error
    )
    assert "wrong-pass-9" not in (delivery.error or "")
    assert tls_smtp.envelopes == []


def verify_as_documented(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's side, written from docs/notifications.md, not from Plait's code."""
    timestamp = headers["X-Plait-Timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), headers["X-Plait-Signature"])


async def test_a_signed_webhook_verifies_with_the_documented_recipe(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    worker: DeliveryWorker,
    http_server: Loopback,
) -> None:
    doc = {
        "name": "ci",
        "kind": "webhook",
        "config": {"url": f"{http_server.url}/plait?x=1"},
        "secret": SIGNING_KEY,
    }
    run_id = await failed_run_notice(client, accounts["editor"], db, doc)
    await worker.run_once()
    [got] = http_server.requests
    assert got.path == "/plait?x=1"
    assert verify_as_documented(SIGNING_KEY, got.headers, got.body)
    assert verify_signature(
        SIGNING_KEY, got.body, got.headers["X-Plait-Timestamp"], got.headers["X-Plait-Signature"]
    )
    assert not verify_as_documented("someone-elses-key", got.headers, got.body)
    delivery = await the_delivery(db)
    assert got.headers["X-Plait-Event"] == "run.failed"
    assert got.headers["X-Plait-Delivery"] == str(delivery.id)
    sent = got.json()
    assert {k: sent[k] for k in ("event", "workflow", "run_id", "status", "task", "error")} == {
        "event": "run.failed",
        "workflow": "train",
        "run_id": run_id,
        "status": "failed",
        "task": "fit",
        "error": "ValueError: bad lr",
    }
    assert sent["link"] == f"{PUBLIC_URL}/runs/{run_id}" and sent["delivery_id"] == str(delivery.id)
    assert SIGNING_KEY not in str(got.headers) + got.body.decode()
    assert (delivery.status, delivery.response_code) == ("sent", 200)


async def test_slack_incoming_webhook_through_slack_sdk(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    worker: DeliveryWorker,
    http_server: Loopback,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = f"{http_server.url}/services/T0001/B0001/s3cretHookPath"
    doc = {"name": "slack", "kind": "slack", "config": {"mode": "webhook"}, "secret": hook}
    run_id = await failed_run_notice(client, accounts["editor"], db, doc)
    with caplog.at_level(logging.DEBUG):
        await worker.run_once()
    [got] = http_server.requests
    assert got.path == "/services/T0001/B0001/s3cretHookPath"
    assert got.headers["Content-Type"].startswith("application/json")
    text = got.json()["text"]
    assert text.startswith(f":x: *train run #{run_id} failed after 1 min 15 s*")
    assert f"<{PUBLIC_URL}/runs/{run_id}|Open run #{run_id}>" in text
    assert (await the_delivery(db)).status == "sent"
    assert "s3cretHookPath" not in caplog.text  # slack-sdk logs URLs at DEBUG: not ours


async def test_a_revoked_slack_webhook_is_not_retried(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    worker: DeliveryWorker,
    http_server: Loopback,
) -> None:
    http_server.answer(404, b"no_service")
    hook = f"{http_server.url}/services/T/B/revokedPath123"
    doc = {"name": "slack", "kind": "slack", "secret": hook}
    await failed_run_notice(client, accounts["editor"], db, doc)
    await worker.run_once()
    delivery = await the_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 1, 404)
    assert delivery.error == "HTTP 404 no_service"


async def test_slack_bot_token_posts_through_the_configured_web_api(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    settings: Any,
    http_server: Loopback,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings.model_copy(update={"slack_base_url": f"{http_server.url}/api/"})
    worker = DeliveryWorker(db, settings)
    http_server.answer(200, {"ok": True, "channel": "C1", "ts": "1.2"})
    doc = {
        "name": "bot",
        "kind": "slack",
        "config": {"mode": "bot", "channel": "#ml-alerts"},
        "secret": "xoxb-bot-token-1234",
    }
    await failed_run_notice(client, accounts["editor"], db, doc)
    with caplog.at_level(logging.DEBUG):
        await worker.run_once()
    [got] = http_server.requests
    assert got.path == "/api/chat.postMessage"
    assert got.headers["Authorization"] == "Bearer xoxb-bot-token-1234"
    assert got.json()["channel"] == "#ml-alerts" and ":x: *train run" in got.json()["text"]
    assert (await the_delivery(db)).status == "sent"
    assert "xoxb-bot-token-1234" not in caplog.text


async def test_slack_refusing_the_bot_fails_for_good_with_slacks_reason(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    settings: Any,
    http_server: Loopback,
) -> None:
    worker = DeliveryWorker(db, settings.model_copy(update={"slack_base_url": http_server.url}))
    http_server.answer(200, {"ok": False, "error": "channel_not_found"})
    doc = {
        "name": "bot",
        "kind": "slack",
        "config": {"mode": "bot", "channel": "#gone"},
        "secret": "xoxb-bot-token-1234",
    }
    await failed_run_notice(client, accounts["editor"], db, doc)
    await worker.run_once()
    delivery = await the_delivery(db)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.error == "Slack refused: channel_not_found"


async def test_a_dead_channel_is_retried_with_backoff_then_recorded_failed(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    worker: DeliveryWorker,
    dead_port: int,
) -> None:
    doc = {
        "name": "ci",
        "kind": "webhook",
        "config": {"url": f"http://127.0.0.1:{dead_port}/x"},
        "secret": SIGNING_KEY,
    }
    await failed_run_notice(client, accounts["editor"], db, doc)
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await worker.run_once()
        delivery = await the_delivery(db)
        seen.append((delivery.status, delivery.attempts))
        if delivery.status != "pending":
            break
        await asyncio.sleep(0.02)
    assert delivery.status == "failed" and delivery.attempts == 3  # notify_max_attempts
    assert delivery.response_code is None and "ConnectError" in (delivery.error or "")
    assert ("pending", 1) in seen and ("pending", 2) in seen  # waited between tries


async def test_the_test_button_answers_with_the_outcome_and_records_it(
    client: httpx.AsyncClient,
    accounts: Accounts,
    db: Database,
    http_server: Loopback,
    dead_port: int,
) -> None:
    editor = accounts["editor"]
    good = await channel(
        client,
        editor,
        name="ci",
        kind="webhook",
        config={"url": http_server.url},
        secret=SIGNING_KEY,
    )
    result = await api(client, editor, "POST", f"/channels/{good['id']}/test")
    assert result["ok"] is True and result["response_code"] == 200
    [got] = http_server.requests
    assert got.headers["X-Plait-Event"] == "test" and "If you can read this" in got.json()["text"]
    bad = await channel(
        client,
        editor,
        name="dead",
        kind="webhook",
        config={"url": f"http://127.0.0.1:{dead_port}"},
        secret=SIGNING_KEY,
    )
    result = await api(client, editor, "POST", f"/channels/{bad['id']}/test")
    assert result["ok"] is False and "ConnectError" in result["error"]
    listed = await api(client, accounts["viewer"], "GET", "/deliveries")
    assert [(d["event_type"], d["status"], d["attempts"]) for d in listed["items"]] == [
        ("test", "failed", 1),
        ("test", "sent", 1),
    ]
    other = await client.post(
        f"/api/v1/channels/{good['id']}/test", headers=accounts["other_editor"].headers
    )
    assert other.status_code == 403


async def test_a_receivers_errors_are_retried_or_not_and_its_words_never_repeated(
    client: httpx.AsyncClient, accounts: Accounts, db: Database, worker: DeliveryWorker,
    http_server: Loopback,
) -> None:  # fmt: skip
    http_server.answer(503, b"internal details: db at 10.0.0.5")
    doc = {"name": "ci", "kind": "webhook", "config": {"url": http_server.url},
           "secret": SIGNING_KEY}  # fmt: skip
    await failed_run_notice(client, accounts["editor"], db, doc)
    await worker.run_once()
    delivery = await the_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 503)
    assert delivery.error == "HTTP 503 Service Unavailable"
    http_server.answer(410, b"gone")
    await asyncio.sleep(0.2)  # past the backoff
    await worker.run_once()
    delivery = await the_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.error) == ("failed", 2, "HTTP 410 Gone")
