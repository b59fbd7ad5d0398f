"""The comfort features: keyboard shortcuts, dark mode, search, and a clear word when the
server cannot be reached."""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import Browser, Page, Route, expect

from tests.cli.conftest import ADMIN_PASSWORD, Plait
from tests.ui.conftest import create_workflow, session_for


def test_keyboard_shortcuts_move_around_and_are_listed(admin_page: Page, plait: Plait) -> None:
    page = admin_page
    page.goto("/workflows")
    expect(page.locator("h1")).to_have_text("Workflows")
    page.keyboard.press("g")
    page.keyboard.press("r")
    expect(page).to_have_url(re.compile(r"/runs$"))
    page.keyboard.press("g")
    page.keyboard.press("w")
    expect(page).to_have_url(re.compile(r"/workflows$"))
    page.keyboard.press("/")
    expect(page.locator("[data-search]")).to_be_focused()
    page.keyboard.press("Escape")
    page.locator("h1").click()

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    for described in ("Search", "Go to workflows", "Go to runs", "Trigger the workflow"):
        expect(help_dialog).to_contain_text(described)
    page.keyboard.press("Escape")
    expect(help_dialog).to_have_count(0)


def test_search_and_tag_filter_narrow_the_list(admin_page: Page, plait: Plait) -> None:
    for name, tags in (("alpha-train", ["ml"]), ("alpha-etl", ["etl"]), ("beta-train", ["ml"])):
        create_workflow(plait.http, {"name": name, "tags": tags, "tasks": []})
    page = admin_page
    page.goto("/workflows")
    page.locator("[data-search]").fill("alpha")
    rows = page.locator("[data-testid=workflows] tbody tr")
    expect(rows).to_have_count(2)
    page.locator("[data-workflow=alpha-train]").get_by_text("#ml").click()
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=alpha&tag=ml"))
    page.reload()  # the filters live in the address, so a reload or a shared link keeps them
    expect(rows).to_have_count(1)
    expect(page.locator("[data-workflow=alpha-train]")).to_be_visible()

    page.locator("[data-search]").fill("no-such-thing")
    expect(page.get_by_text("No workflow matches these filters")).to_be_visible()


def test_dark_mode_follows_the_system_and_the_toggle_sticks(admin_page: Page, plait: Plait) -> None:
    page = admin_page
    page.emulate_media(color_scheme="dark")
    page.goto("/workflows")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "dark")
    dark_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.emulate_media(color_scheme="light")  # the system changes while the page is open
    expect(html).to_have_attribute("data-theme", "light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != dark_background

    page.get_by_role("button", name="Toggle dark mode").click()
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")  # the choice beats the system


def test_an_unreachable_server_is_said_plainly(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {"name": "reachable", "tasks": []})
    page = admin_page
    page.goto("/workflows")
    expect(page.locator("[data-workflow=reachable]")).to_be_visible()  # the list has loaded

    def refuse(route: Route) -> None:
        route.abort("connectionrefused")

    page.route("**/api/**", refuse)
    page.locator("[data-search]").fill("reach")
    banner = page.locator(".banner")
    expect(banner).to_contain_text("Cannot reach the Plait server")
    expect(page.locator(".error-box")).to_contain_text("Server unreachable")

    page.unroute("**/api/**")
    page.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("[data-workflow=reachable]")).to_be_visible()


def test_an_expired_access_token_is_refreshed_without_a_new_login(
    browser: Browser, plait: Plait
) -> None:
    create_workflow(plait.http, {"name": "after-refresh", "tasks": []})
    stale = session_for(plait.server.url, "admin", ADMIN_PASSWORD)
    stale["access"] = "an.expired.token"
    context = browser.new_context(base_url=plait.server.url)
    context.add_init_script(
        f"localStorage.getItem('plait.session') || "
        f"localStorage.setItem('plait.session', {json.dumps(json.dumps(stale))})"
    )
    page = context.new_page()
    page.goto("/workflows")
    expect(page.locator("[data-workflow=after-refresh]")).to_be_visible()  # the API answered
    now = json.loads(page.evaluate("localStorage.getItem('plait.session')"))
    assert now["access"] != "an.expired.token"
    assert now["refresh"] != stale["refresh"]  # rotated: the old one is spent
    spent = httpx.post(f"{plait.server.url}/api/v1/auth/refresh",
                       json={"refresh_token": stale["refresh"]})  # fmt: skip
    assert spent.status_code == 401
    context.close()
