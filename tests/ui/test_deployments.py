"""Deployments in the browser: deploy a model from the list's dialog, watch it start serving,
ask it from the "Try it" form typed key by key, and see a field's problem beside it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.support.serving import data_dir_of, register, train

LOAD_MS = 90_000  # a serving process imports scikit-learn: seconds on a busy machine


@pytest.fixture(scope="module")
def iris(plait: Plait) -> None:
    register(data_dir_of(plait), train())


def test_deploy_then_try_it(admin_page: Page, iris: None) -> None:
    page = admin_page
    page.goto("/deployments")
    page.get_by_role("button", name="Deploy a model").click()
    dialog = page.get_by_role("dialog", name="Deploy a model")
    dialog.get_by_label("Deployment name").press_sequentially("iris-ui")
    dialog.get_by_label("Model").press_sequentially("iris")
    dialog.get_by_role("button", name="Deploy", exact=True).click()
    expect(page).to_have_url("/deployments/iris-ui")
    expect(page.locator(".page-head [data-status]")).to_have_attribute(
        "data-status", "serving", timeout=LOAD_MS
    )
    expect(page.get_by_test_id("serving-version")).to_have_text("v1")
    form = page.get_by_test_id("try-it")
    width = form.get_by_label("petal_width")
    expect(width).to_have_value("0.2")  # the first sample row
    width.select_text()
    width.press("Backspace")
    width.press_sequentially("2.4")
    form.get_by_label("petal_length").select_text()
    form.get_by_label("petal_length").press_sequentially("5.9")
    form.get_by_role("button", name="Predict").click()
    expect(form.get_by_test_id("prediction")).to_have_text("2")  # virginica
    expect(page.get_by_test_id("requests")).to_have_text("1", timeout=5000)

    length = form.get_by_label("sepal_length")
    length.select_text()
    length.press_sequentially("abc")
    form.get_by_role("button", name="Predict").click()
    expect(form.locator(".field.invalid")).to_contain_text("expected a number, got 'abc'")
    expect(form.locator(".field.invalid label")).to_have_text("sepal_length")
    expect(form.get_by_test_id("prediction")).to_have_count(0)


def test_the_list_shows_the_deployment_and_a_viewer_cannot_deploy(
    viewer_page: Page, iris: None
) -> None:
    page = viewer_page
    page.goto("/deployments")
    row = page.locator("tr[data-deployment=iris-ui]")
    expect(row).to_contain_text("iris")
    expect(row.locator("[data-status]")).to_have_attribute(
        "data-status", "serving", timeout=LOAD_MS
    )
    expect(page.get_by_role("button", name="Deploy a model")).to_have_count(0)
