"""The template gallery in the browser: search by typing, filter a category, use a template
through the form generated from its params (errors shown beside the field), land on the new
workflow; and save a workflow as a template from its page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow, open_page


@pytest.fixture
def editor_page(browser: Browser, plait: Plait, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from open_page(browser, plait, "eddie", request)


def retype(field: Locator, text: str) -> None:
    """Replace a field's value key by key, as a person does."""
    field.click()
    field.press("Control+a")
    field.press("Backspace")
    field.press_sequentially(text)


def cards(page: Page) -> Locator:
    return page.locator("[data-template]")


def test_search_filter_and_use_a_template(editor_page: Page, plait: Plait) -> None:
    page = editor_page
    page.goto("/workflows")
    page.get_by_role("link", name="Templates").click()
    expect(page.locator("h1")).to_have_text("Templates")
    expect(cards(page)).to_have_count(4)
    expect(page.locator("section[data-category=ml_training] [data-template]")).to_have_count(2)

    page.get_by_role("searchbox", name="Search templates").press_sequentially("sweep")
    expect(cards(page)).to_have_count(1)
    expect(cards(page)).to_have_attribute("data-template", "hyperparameter-sweep")
    expect(page).to_have_url(re.compile(r"/templates\?q=sweep$"))
    retype(page.get_by_role("searchbox", name="Search templates"), "")
    expect(cards(page)).to_have_count(4)
    page.get_by_role("group", name="Category").get_by_role("button", name="inference").click()
    expect(cards(page)).to_have_count(1)
    expect(cards(page)).to_have_attribute("data-template", "batch-inference")
    page.get_by_role("group", name="Category").get_by_role("button", name="All").click()

    page.get_by_role("button", name="Use template sklearn-training").click()
    dialog = page.get_by_role("dialog", name="Use sklearn-training")
    dialog.get_by_label("Workflow name").press_sequentially("ui-forest")
    expect(dialog.locator("#param-n_estimators")).to_have_value("100")  # the defaults
    retype(dialog.locator("#param-n_estimators"), "25")
    retype(dialog.locator("#param-max_depth"), "0")
    dialog.get_by_role("button", name="Create workflow").click()
    expect(dialog.locator(".field-error")).to_have_text("must be >= 1")  # beside max_depth
    retype(dialog.locator("#param-max_depth"), "3")
    dialog.get_by_role("button", name="Create workflow").click()

    expect(page).to_have_url(re.compile(r"/workflows/ui-forest$"))
    expect(page.locator("h1")).to_have_text("ui-forest")
    wf = plait.http.get("/api/v1/workflows/ui-forest").json()
    defaults = {k: p["default"] for k, p in wf["params"].items()}
    assert (defaults["n_estimators"], defaults["max_depth"], defaults["test_size"]) == (25, 3, 0.25)
    assert wf["owner"] == "eddie"
    page.goto("/templates")
    expect(page.locator("[data-template=sklearn-training] [data-testid=usage]")).to_have_text(
        "once"
    )


def test_save_a_workflow_as_a_template(editor_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {
        "name": "nightly-report", "description": "Counts the day's rows.",
        "params": {"day": {"type": "string", "default": "today"}},
        "tasks": [{"key": "count", "kind": "shell", "command": "echo 3"}],
    })  # fmt: skip
    page = editor_page
    page.goto("/workflows/nightly-report")
    page.get_by_role("button", name="Save as template").click()
    dialog = page.get_by_role("dialog", name="Save nightly-report as a template")
    retype(dialog.get_by_label("Template name"), "report-template")
    dialog.get_by_label("Category").select_option("data_pipeline")
    dialog.get_by_label("Public").uncheck()
    dialog.get_by_role("button", name="Save template").click()

    expect(page).to_have_url(re.compile(r"/templates\?q=report-template$"))
    card = page.locator("[data-template=report-template]")
    expect(card).to_contain_text("Counts the day's rows.")
    expect(card).to_contain_text("private")
    expect(page.locator("section[data-category=data_pipeline]")).to_contain_text("report-template")
    saved = plait.http.get("/api/v1/templates/report-template").json()
    assert (saved["owner"], saved["public"], saved["category"]) == ("eddie", False, "data_pipeline")
    assert saved["spec"]["tasks"][0]["command"] == "echo 3"
