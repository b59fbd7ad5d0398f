"""Settings in the browser: an API token shown once, a webhook channel tested against a real
receiver on this machine, and a user's role changed by an admin."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait, free_port


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP server that records each POST: headers and body."""
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()
    server.server_close()


def test_a_new_api_token_is_shown_once_and_works(admin_page: Page, plait: Plait) -> None:
    page = admin_page
    page.goto("/settings?tab=tokens")
    page.fill("#token-name", "nightly-ci")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("token-secret").input_value()
    assert secret.startswith("plait_")
    me = httpx.get(f"{plait.server.url}/api/v1/users/me",
                   headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
    assert me.json()["username"] == "admin"

    page.keyboard.press("Escape")
    row = page.get_by_test_id("tokens").locator("tr", has_text="nightly-ci")
    expect(row).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(secret)  # never shown again


def test_a_webhook_channel_sends_a_signed_test_message(
    admin_page: Page, plait: Plait, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = receiver
    page = admin_page
    page.goto("/settings?tab=notifications")
    page.get_by_role("button", name="New channel").click()
    page.fill("#ch-name", "ops-hook")
    page.select_option("#ch-kind", "webhook")
    page.fill("#ch-url", url)
    page.fill("#ch-secret", "a-signing-key-of-some-length")
    page.get_by_role("button", name="Create channel").click()
    row = page.locator("[data-channel=ops-hook]")
    row.get_by_role("button", name="Send test").click()

    expect(row.get_by_test_id("test-result")).to_contain_text("sent")
    assert len(got) == 1
    headers, body = got[0]["headers"], got[0]["body"]
    signed = headers["X-Plait-Timestamp"].encode() + b"." + body
    mac = hmac.new(b"a-signing-key-of-some-length", signed, hashlib.sha256).hexdigest()
    assert headers["X-Plait-Signature"] == f"sha256={mac}"
    assert json.loads(body)["event"] == "test"
    assert "a-signing-key" not in page.content()


def test_an_admin_changes_a_role_and_the_api_agrees(admin_page: Page, plait: Plait) -> None:
    plait.http.post("/api/v1/users", json={"username": "rita", "password": "rita-password-1",
                                            "role": "viewer"}).raise_for_status()  # fmt: skip
    page = admin_page
    page.goto("/settings?tab=users")
    page.get_by_label("Role of rita").select_option("editor")
    expect(page.locator(".toast")).to_be_visible()
    users = plait.http.get("/api/v1/users?limit=100").json()["items"]
    assert next(u for u in users if u["username"] == "rita")["role"] == "editor"
