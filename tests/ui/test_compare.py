"""Comparing runs in the browser: tick two runs in the runs list, press Compare, and read the
differing param marked and the loss of both runs drawn on one chart."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow

LEARN = """\
import plait
lr = plait.params()["lr"]
for step in range(6):
    plait.log_metric("loss", (6 - step) * lr, step=step)
"""


def finished_run(plait: Plait, lr: float) -> int:
    run = plait.http.post("/api/v1/workflows/learn/runs", json={"params": {"lr": lr}}).json()
    deadline = time.monotonic() + 60
    while (status := plait.http.get(f"/api/v1/runs/{run['id']}").json()["status"]) != "succeeded":
        assert status in ("queued", "running") and time.monotonic() < deadline, status
        time.sleep(0.1)
    run_id: int = run["id"]
    return run_id


def test_pick_two_runs_and_compare_them(viewer_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {
        "name": "learn",
        "params": {"lr": {"type": "number", "default": 0.1},
                   "layers": {"type": "integer", "default": 3}},
        "tasks": [{"key": "fit", "kind": "python", "code": LEARN}],
    })  # fmt: skip
    slow, fast = finished_run(plait, 0.1), finished_run(plait, 0.3)
    page = viewer_page  # comparing needs no more than a viewer
    page.goto("/runs?workflow=learn")
    compare = page.get_by_role("button", name=re.compile(r"^Compare \("))
    expect(compare).to_have_text("Compare (0)")
    expect(compare).to_be_disabled()
    page.get_by_role("checkbox", name=f"Compare run #{slow}").click()
    expect(compare).to_be_disabled()  # one run is nothing to compare
    page.get_by_role("checkbox", name=f"Compare run #{fast}").click()
    expect(compare).to_have_text("Compare (2)")
    compare.click()

    expect(page).to_have_url(re.compile(rf"/compare\?ids={slow},{fast}$"))
    expect(page.locator("h1")).to_have_text("Compare runs")
    cards = page.get_by_test_id("compare-runs")
    expect(cards.locator(f"[data-run='{slow}']")).to_contain_text("learn")
    expect(cards.locator(f"[data-run='{fast}']")).to_contain_text("succeeded")

    params = page.get_by_test_id("compare-params")
    lr = params.locator("tr[data-row=lr]")
    expect(lr).to_have_attribute("data-differs", "true")
    expect(lr).to_contain_text("differs")
    expect(lr).to_contain_text("0.1")
    expect(lr).to_contain_text("0.3")
    expect(params.locator("tr[data-row=layers]")).to_contain_text("same")

    loss = page.get_by_test_id("compare-metrics").locator("tr[data-row=loss]")
    expect(loss.locator(f"td[data-run='{fast}']")).to_contain_text("0.3 (0.3 \u2013 1.8, 6 values)")
    chart = page.locator(".chart[data-overlay=loss]")
    expect(chart).to_have_attribute("data-lines", "2")
    expect(chart.locator("canvas")).to_be_visible()
    legend = chart.locator(".u-legend .u-series")
    expect(legend).to_have_count(3)  # the x axis, then a line per run
    expect(legend.nth(1)).to_contain_text(f"#{slow}")
    expect(legend.nth(2)).to_contain_text(f"#{fast}")
    expect(page.get_by_test_id("compare-tasks").locator("tr[data-row=fit]")).to_contain_text(
        "succeeded"
    )
