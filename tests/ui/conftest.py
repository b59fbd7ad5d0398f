"""Browser tests: the real `plait server` and Debian's Chromium, driven by Playwright.

Playwright's own browser download cannot work here (and is not wanted): the browser is the
system's /usr/bin/chromium (`apt-get install -y chromium`, done by scripts/test). Each test
saves a screenshot under build/screenshots/ (PLAIT_SCREENSHOTS overrides), the pick of which
go into docs/images/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.cli.conftest import ADMIN_PASSWORD, Plait, http_login, running_plait

CHROMIUM = os.environ.get("PLAIT_TEST_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(
    os.environ.get("PLAIT_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots")
)
VIEWER_PASSWORD = "viewer-password-1"
EDITOR_PASSWORD = "editor-password-1"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def plait(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plait]:
    """A server with a fast scheduler, an admin, an editor and a viewer."""
    env = {
        "PLAIT_TICK_SECONDS": "0.2",
        "PLAIT_HEARTBEAT_SECONDS": "0.2",
        "PLAIT_LOAD_DEMO": "false",
    }
    with running_plait("ui", tmp_path_factory.mktemp("plait-ui"), **env) as running:
        for name, password, role in (("vera", VIEWER_PASSWORD, "viewer"),
                                     ("eddie", EDITOR_PASSWORD, "editor")):  # fmt: skip
            body = {"username": name, "password": password, "role": role}
            running.http.post("/api/v1/users", json=body).raise_for_status()
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope: Playwright's sync API runs its own event loop, which must be gone before
    # another module's asyncio tests start.
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Problems:
    """Console errors and uncaught exceptions of a page: a test ends with none."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("pageerror", lambda exc: self.messages.append(f"uncaught: {exc}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # A refused request is logged by the browser too; tests that provoke one expect it.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.messages.append(f"console: {message.text}")


def session_for(url: str, username: str, password: str) -> dict[str, Any]:
    data = http_login(url, password, username).json()
    return {"access": data["access_token"], "refresh": data["refresh_token"], "user": data["user"],
            "expires": 4102444800000}  # fmt: skip


def open_page(
    browser: Browser, plait: Plait, user: str | None, request: pytest.FixtureRequest
) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, base_url=plait.server.url
    )
    context.set_default_timeout(TIMEOUT_MS)
    if user is not None:
        passwords = {"admin": ADMIN_PASSWORD, "vera": VIEWER_PASSWORD, "eddie": EDITOR_PASSWORD}
        state = json.dumps(session_for(plait.server.url, user, passwords[user]))
        # Only where nothing is stored yet, so a logout inside the test stays logged out.
        key = "'plait.session'"
        script = f"localStorage.getItem({key}) || localStorage.setItem({key}, {json.dumps(state)})"
        context.add_init_script(script)
    page = context.new_page()
    problems = Problems(page)
    yield page
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w-]+", "_", request.node.name)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    context.close()
    assert not problems.messages, problems.messages


@pytest.fixture
def admin_page(browser: Browser, plait: Plait, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from open_page(browser, plait, "admin", request)


@pytest.fixture
def viewer_page(browser: Browser, plait: Plait, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from open_page(browser, plait, "vera", request)


@pytest.fixture
def anonymous_page(
    browser: Browser, plait: Plait, request: pytest.FixtureRequest
) -> Iterator[Page]:
    yield from open_page(browser, plait, None, request)


def create_workflow(http: httpx.Client, spec: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/api/v1/workflows", json=spec)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data
