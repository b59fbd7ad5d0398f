"""Retention in the browser: pin a run on its page (and unpin it), and set how long a
workflow keeps its runs in the editor."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow


def test_pin_and_unpin_a_run_on_its_page(admin_page: Page, plait: Plait) -> None:
    wf = create_workflow(plait.http, {"name": "pinnable", "tasks": [
        {"key": "say", "kind": "shell", "command": "echo hi"}]})  # fmt: skip
    run = plait.http.post(f"/api/v1/workflows/{wf['id']}/runs", json={}).json()
    deadline = time.monotonic() + 30
    while plait.http.get(f"/api/v1/runs/{run['id']}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the run did not succeed"
        time.sleep(0.1)
    page = admin_page
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("[data-testid=pinned]")).to_have_text("not pinned")

    page.get_by_role("button", name="Pin", exact=True).click()

    expect(page.get_by_role("button", name="Unpin", exact=True)).to_be_visible()
    expect(page.locator("[data-testid=pinned]")).to_have_text("pinned: kept however old")
    assert plait.http.get(f"/api/v1/runs/{run['id']}").json()["pinned"] is True

    page.get_by_role("button", name="Unpin", exact=True).click()

    expect(page.get_by_role("button", name="Pin", exact=True)).to_be_visible()
    assert plait.http.get(f"/api/v1/runs/{run['id']}").json()["pinned"] is False


def test_set_how_long_a_workflow_keeps_its_runs(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {"name": "keeper", "tasks": [
        {"key": "a", "kind": "shell", "command": "true"}]})  # fmt: skip
    page = admin_page
    page.goto("/workflows/keeper")
    expect(page.locator("[data-testid=retention]")).to_have_text("the server's default")
    page.goto("/workflows/keeper?tab=edit")
    days = page.get_by_label("Keep runs (days)")
    days.click()
    days.press_sequentially("14")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Saved version 2")).to_be_visible()
    assert plait.http.get("/api/v1/workflows/keeper").json()["retention_days"] == 14
    page.goto("/workflows/keeper")
    expect(page.locator("[data-testid=retention]")).to_have_text("14 days")
