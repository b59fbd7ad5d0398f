"""Describing a run in the browser: typed key by key, the proposal shown as the trigger
form, one field edited, Run, and the run's page with those params."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow, open_page

CODE = "import plait\nprint('trees', plait.params()['n_estimators'])\n"


@pytest.fixture
def editor_page(browser: Browser, plait: Plait, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from open_page(browser, plait, "eddie", request)


@pytest.fixture
def viewer_page(browser: Browser, plait: Plait, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from open_page(browser, plait, "vera", request)


@pytest.fixture(scope="module")
def iris(plait: Plait) -> None:
    create_workflow(plait.http, {
        "name": "iris-classifier", "description": "Train a random forest on the iris flowers",
        "params": {
            "n_estimators": {"type": "integer", "default": 100, "minimum": 1, "maximum": 1000,
                             "description": "Trees in the forest."},
            "max_depth": {"type": "integer", "default": 3, "minimum": 1, "maximum": 32},
            "dataset": {"type": "string", "required": True},
            "dataset_version": {"type": "integer", "minimum": 1},
        },
        "tasks": [{"key": "fit", "kind": "python", "code": CODE}],
    })  # fmt: skip
    plait.http.post("/api/v1/datasets", json={"name": "flowers"}).raise_for_status()
    for n in (1, 2):
        upload = {"file": ("f.csv", f"a\n{n}\n".encode())}
        plait.http.post("/api/v1/datasets/flowers/versions", files=upload).raise_for_status()


def test_describe_edit_and_run(editor_page: Page, plait: Plait, iris: None) -> None:
    page = editor_page
    page.goto("/workflows")
    page.get_by_role("button", name="Describe a run").click()
    panel = page.get_by_role("dialog", name="Describe a run")
    box = panel.get_by_label("What should run?")
    box.press_sequentially("train the iris clasifier with two hundred trees")
    box.press("Enter")
    expect(panel.get_by_test_id("chat-questions")).to_contain_text("Which dataset?")
    box.press_sequentially("dataset flowers v2, depth 5 and paint it blue")
    panel.get_by_role("button", name="Send").click()
    expect(panel.get_by_role("list", name="Conversation")).to_contain_text(
        "I did not understand 'paint', 'blue'"
    )
    form = panel.get_by_test_id("chat-proposal")
    expect(form).to_contain_text("the workflow iris-classifier")
    expect(form.locator("#param-n_estimators")).to_have_value("200")
    expect(form.locator("#param-max_depth")).to_have_value("5")
    expect(form.locator("#param-dataset")).to_have_value("flowers")
    expect(form.locator("#param-dataset_version")).to_have_value("2")

    field = form.locator("#param-n_estimators")  # edited by hand before running
    field.click()
    field.press("Control+a")
    field.press_sequentially("250")
    form.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    run = plait.http.get(f"/api/v1/runs/{run_id}").json()
    assert run["workflow"] == "iris-classifier"
    assert run["params"]["n_estimators"] == 250 and run["params"]["dataset_version"] == 2
    expect(page.get_by_test_id("log")).to_contain_text("trees 250")


def test_a_viewer_sees_the_proposal_but_cannot_run(viewer_page: Page, iris: None) -> None:
    page = viewer_page
    page.goto("/workflows")
    page.get_by_role("button", name="Describe a run").click()
    panel = page.get_by_role("dialog", name="Describe a run")
    panel.get_by_label("What should run?").press_sequentially("iris classifier on flowers")
    panel.get_by_label("What should run?").press("Enter")
    expect(panel.locator("#param-dataset")).to_have_value("flowers")
    expect(panel.get_by_role("button", name="Run")).to_be_disabled()
    expect(panel).to_contain_text("needs the editor role")
