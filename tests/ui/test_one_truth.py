"""One truth, shown the same everywhere: the YAML tab is what `plait export` writes, a paused
workflow shows no next run and the others show theirs in the workflow's timezone (dates in
the browser's locale), styled
dialogs instead of the browser's confirm(), and the app's own page for an unknown path."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Browser, Dialog, Page, expect

from tests.cli.conftest import ADMIN_PASSWORD, Plait
from tests.ui.conftest import create_workflow, session_for

CODE = "import plait\n\nfor i in range(3):\n    print('step', i)\n"


def yaml_shown(page: Page) -> str:
    editor = page.get_by_role("textbox", name="Workflow YAML")
    expect(editor).to_be_visible()
    text: str = editor.evaluate("(el) => el.cmTile.root.view.state.doc.toString()")
    return text


def test_the_yaml_tab_shows_what_plait_export_writes(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {
        "name": "exported", "description": "Ünïcode and: a colon", "tags": ["b", "a"],
        "schedule": "30 2 * * 1", "timezone": "Asia/Tokyo",
        "params": {"rows": {"type": "integer", "default": 3}},
        "tasks": [{"key": "code", "kind": "python", "code": CODE, "retries": 2},
                  {"key": "after", "kind": "shell", "command": "echo done",
                   "depends_on": ["code"]}],
    })  # fmt: skip
    page = admin_page
    page.goto("/workflows/exported?tab=edit")
    page.get_by_role("tab", name="YAML").click()
    assert yaml_shown(page) == plait.cli.ok("export", "exported")

    # A draft changed in the form shows as it will be exported once saved.
    page.get_by_role("tab", name="Form").click()
    description = page.locator("#wf-description")
    description.fill("")
    description.press_sequentially("typed in the form")
    page.get_by_role("tab", name="YAML").click()
    shown = yaml_shown(page)
    assert "description: typed in the form\n" in shown
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".toast")).to_contain_text("Saved version 2")
    assert plait.cli.ok("export", "exported") == shown


def test_a_paused_workflow_shows_no_next_run(admin_page: Page, plait: Plait) -> None:
    spec = {"name": "napping", "schedule": "0 6 * * *", "timezone": "Asia/Tokyo", "paused": True}
    create_workflow(plait.http, {**spec, "tasks": []})
    page = admin_page
    page.goto("/workflows/napping")
    next_runs = page.get_by_test_id("next-fire")
    expect(next_runs).to_have_text("none while paused")
    expect(next_runs.locator("time")).to_have_count(0)
    page.goto("/workflows")
    expect(page.locator("[data-workflow=napping] time")).to_have_count(1)  # "changed" only

    page.goto("/workflows/napping")
    page.get_by_role("button", name="Resume").click()
    # 06:00 in Tokyo, said so, whatever the browser's own zone (UTC here: 21:00 the day before).
    expect(next_runs.locator("time")).to_have_count(3)
    expect(next_runs.locator("time").first).to_contain_text(re.compile(r"6:00\sAM GMT\+9"))


def test_deleting_asks_in_a_styled_dialog(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {"name": "doomed", "tasks": []})
    page = admin_page
    native: list[Dialog] = []
    page.on("dialog", lambda d: native.append(d))
    page.goto("/workflows/doomed")
    delete = page.get_by_role("button", name="Delete")
    delete.click()
    dialog = page.get_by_role("alertdialog", name="Delete doomed?")
    expect(dialog).to_contain_text("cannot be undone")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # not the harm
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(delete).to_be_focused()  # back where it was
    assert plait.http.get("/api/v1/workflows/doomed").status_code == 200

    delete.click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(r"/workflows$"))
    assert plait.http.get("/api/v1/workflows/doomed").status_code == 404
    assert native == []  # never the browser's confirm()


def test_an_unknown_path_shows_the_apps_not_found_page(admin_page: Page) -> None:
    page = admin_page
    page.goto("/no/such/page/here")
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("main")).to_contain_text("/no/such/page/here")
    expect(page).to_have_title("Not found · Plait")
    page.get_by_role("link", name="Go to workflows").click()
    expect(page).to_have_url(re.compile(r"/workflows$"))
    expect(page.locator("h1")).to_have_text("Workflows")


def test_dates_follow_the_browsers_locale(browser: Browser, plait: Plait) -> None:
    spec = {"name": "localized", "schedule": "0 6 * * *", "timezone": "Asia/Tokyo"}
    create_workflow(plait.http, {**spec, "tasks": []})
    context = browser.new_context(
        base_url=plait.server.url, locale="de-DE", timezone_id="America/New_York"
    )
    state = json.dumps(session_for(plait.server.url, "admin", ADMIN_PASSWORD))
    context.add_init_script(f"localStorage.setItem('plait.session', {json.dumps(state)})")
    page = context.new_page()
    page.goto("/workflows/localized")
    first = page.get_by_test_id("next-fire").locator("time").first
    # German: a 24-hour clock, the day before the month; the schedule's zone, not New York's.
    expect(first).to_contain_text(re.compile(r"^\d{1,2}\. \S+ \d{4}, 06:00 GMT\+9$"))
    expect(first).to_have_attribute("title", re.compile(r"^\d{1,2}\. \S+ \d{4}, (16|17):00$"))
    context.close()
