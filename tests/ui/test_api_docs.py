"""/docs and /redoc work with no internet: every script and style comes from the server, and
the operations are drawn under the page's CSP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import TIMEOUT_MS

# ReDoc always draws Redocly's logo from its CDN; the CSP blocks it (and ReDoc then hides it).
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def offline(browser: Browser, plait: Plait) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A page whose requests may not leave the server: (page, refused URLs, console errors)."""
    context = browser.new_context(base_url=plait.server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    left: list[str] = []
    errors: list[str] = []

    def refuse(route: Route) -> None:
        left.append(route.request.url)
        route.abort()

    page.route(lambda url: not url.startswith(plait.server.url), refuse)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    yield page, left, errors
    context.close()


@pytest.mark.parametrize(
    ("path", "operation"),
    [("/docs", ".opblock-summary-path"), ("/redoc", "[data-section-id^='operation/']")],
)
def test_api_docs_render_without_internet(
    offline: tuple[Page, list[str], list[str]], path: str, operation: str
) -> None:
    page, left, errors = offline
    page.goto(path)
    expect(page.locator(operation).first).to_be_attached(timeout=TIMEOUT_MS)
    expect(page.get_by_text("/api/v1/auth/login").first).to_be_attached()
    if path == "/redoc":
        assert page.locator(operation).count() > 20  # every operation, not an error page
    else:  # Swagger UI renders a long document as it scrolls (virtualized): scroll to its end
        last = page.evaluate("window.ui.specSelectors.taggedOperations().keySeq().last()")
        for _ in range(200):
            if page.locator(f"#operations-tag-{last}").count():
                break
            page.mouse.wheel(0, 2000)
            page.wait_for_timeout(50)
        expect(page.locator(f"#operations-tag-{last}")).to_be_visible()
    assert left == []
    unexpected = [e for e in errors if REDOCLY_LOGO not in e]
    assert unexpected == []  # a script or style refused by the CSP would show here
