"""Authoring in the browser: log in, build a workflow in the editor, see validation errors
where they belong, restore an old version from its diff, and what a viewer may not do."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.cli.conftest import ADMIN_PASSWORD, Plait
from tests.ui.conftest import create_workflow


def test_login_with_the_form_then_logout(anonymous_page: Page, plait: Plait) -> None:
    page = anonymous_page
    page.goto("/workflows")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fworkflows$"))
    page.fill("#username", "admin")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")

    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/workflows$"))
    expect(page.locator(".who")).to_contain_text("admin")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/workflows")  # the session is gone, not just hidden
    expect(page).to_have_url(re.compile(r"/login"))


def _task_card(page: Page, index: int):  # type: ignore[no-untyped-def]
    return page.locator(f"[data-task-index='{index}']")


def test_create_workflow_with_two_tasks_and_a_dependency(admin_page: Page, plait: Plait) -> None:
    page = admin_page
    page.goto("/workflows")
    page.get_by_role("button", name="New workflow").click()
    page.fill("#wf-name", "ui-made")
    page.fill("#wf-tags", "ui, demo")
    first = _task_card(page, 0)
    first.get_by_label("Task key").fill("extract")
    page.get_by_role("button", name="+ Add task").click()
    second = _task_card(page, 1)
    second.get_by_label("Task key").fill("load")
    second.locator(".cm-content").fill('print("loading")\n')  # the CodeMirror editor
    second.get_by_role("group", name="Dependencies of load").get_by_label("extract").check()
    # The graph beside the editor already shows the edge.
    expect(page.locator("[data-testid=dag] .edge")).to_have_count(1)
    page.get_by_role("button", name="Create workflow").click()

    expect(page).to_have_url(re.compile(r"/workflows/ui-made$"))
    expect(page.locator("[data-testid=dag] [data-task]")).to_have_count(2)
    saved = plait.http.get("/api/v1/workflows/ui-made").json()
    assert [(t["key"], t["depends_on"]) for t in saved["tasks"]] == [
        ("extract", []),
        ("load", ["extract"]),
    ]
    assert saved["tasks"][1]["code"] == 'print("loading")\n'
    assert saved["tags"] == ["demo", "ui"]


def test_a_dependency_cycle_is_shown_beside_the_field(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {"name": "cyclic", "tasks": [
        {"key": "a", "kind": "shell", "command": "true"},
        {"key": "b", "kind": "shell", "command": "true", "depends_on": ["a"]},
    ]})  # fmt: skip
    page = admin_page
    page.goto("/workflows/cyclic?tab=edit")
    _task_card(page, 0).get_by_role("group", name="Dependencies of a").get_by_label("b").check()
    page.get_by_role("button", name="Save", exact=True).click()

    error = _task_card(page, 0).locator(".field-error")
    expect(error).to_contain_text("dependency cycle")
    error.scroll_into_view_if_needed()
    expect(_task_card(page, 1).locator(".field-error")).to_have_count(0)
    expect(page.locator(".error-box")).to_contain_text("see the fields marked in red")
    assert plait.http.get("/api/v1/workflows/cyclic").json()["current_version"] == 1


def test_restore_an_older_version_after_reading_the_diff(admin_page: Page, plait: Plait) -> None:
    wf = create_workflow(plait.http, {"name": "versioned", "tasks": [
        {"key": "step", "kind": "shell", "command": "echo first"}]})  # fmt: skip
    changed = {"name": "versioned", "tasks": [{"key": "step", "kind": "shell",
                                                "command": "echo second"}]}  # fmt: skip
    plait.http.put(f"/api/v1/workflows/{wf['id']}", json=changed).raise_for_status()

    page = admin_page
    page.goto("/workflows/versioned?tab=versions")
    diff = page.locator("[data-testid=diff]")
    expect(diff.locator(".cm-merge-a")).to_contain_text("echo first")
    expect(diff.locator(".cm-merge-b")).to_contain_text("echo second")
    page.locator("[data-version='1']").get_by_role("button", name="Restore").click()
    page.get_by_role("alertdialog", name="Restore version 1?").get_by_role(
        "button", name="Restore"
    ).click()

    expect(page.locator("[data-version='3']")).to_contain_text("current")
    now = plait.http.get("/api/v1/workflows/versioned").json()
    assert now["current_version"] == 3
    assert now["tasks"][0]["command"] == "echo first"


def test_a_viewer_sees_no_edit_controls(viewer_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {"name": "look-only", "tasks": [
        {"key": "x", "kind": "shell", "command": "true"}]})  # fmt: skip
    page = viewer_page
    page.goto("/workflows")
    expect(page.locator("[data-workflow=look-only]")).to_be_visible()
    expect(page.get_by_role("button", name="New workflow")).to_have_count(0)

    page.goto("/workflows/look-only")
    expect(page.locator("h1")).to_have_text("look-only")
    for name in ("Trigger", "Pause", "Clone", "Delete", "Edit"):
        expect(page.get_by_role("button", name=re.compile(name))).to_have_count(0)
    expect(page.get_by_role("tab", name="Edit")).to_have_count(0)
    page.keyboard.press("t")  # the trigger shortcut does nothing for a viewer
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_role("button", name="Restore")).to_have_count(0)
