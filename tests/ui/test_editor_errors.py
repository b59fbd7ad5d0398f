"""The editor shows the server's errors in words beside their fields: a cron field out of
range, a name rule, an unknown dependency with the task that was meant."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow

pytestmark = pytest.mark.slow


def test_schedule_and_name_errors_read_as_words(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {"name": "worded", "tasks": [
        {"key": "train", "kind": "shell", "command": "true"}]})  # fmt: skip
    page = admin_page
    page.goto("/workflows/worded?tab=edit")
    schedule = page.locator("#wf-schedule")
    schedule.press_sequentially("0 25 * * *")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(schedule.locator("xpath=..").locator(".field-error")).to_have_text(
        "hour field '25' is out of range 0-23"
    )

    key = page.get_by_label("Task key")
    key.press("End")
    key.press_sequentially(" 2")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("[data-task-index='0'] .field-error")).to_have_text(
        "'train 2' is not allowed: use letters, digits, - and _, starting with a letter, "
        "at most 100 characters"
    )
    assert plait.http.get("/api/v1/workflows/worded").json()["current_version"] == 1


def test_an_unknown_dependency_in_yaml_says_which_task_was_meant(
    admin_page: Page, plait: Plait
) -> None:
    create_workflow(plait.http, {"name": "meant", "tasks": [
        {"key": "train", "kind": "shell", "command": "true"},
        {"key": "report", "kind": "shell", "command": "true", "depends_on": ["train"]},
    ]})  # fmt: skip
    page = admin_page
    page.goto("/workflows/meant?tab=edit")
    page.locator(".workflow-editor .tabs").get_by_text("YAML", exact=True).click()
    # report's `depends_on: [train]` is the one line `- train`: make it `- trian`.
    page.locator(".cm-line", has_text=re.compile(r"^\s*- train$")).click()
    page.keyboard.press("End")
    for _ in range(3):
        page.keyboard.press("Backspace")
    page.keyboard.type("ian")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".error-box")).to_contain_text(
        "tasks.report.depends_on unknown task 'trian'; did you mean 'train'?"
    )
