"""Statistics in the browser: the Overview page and a workflow's Stats tab, reached by
clicking, show the figures the API gives for real runs (two that succeed, one that fails)."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import SHOTS, create_workflow

FLAKY = "import sys, plait\nprint('checking')\nsys.exit(3 if plait.params()['fail'] else 0)\n"


def run_to_the_end(plait: Plait, workflow: str, **params: Any) -> int:
    response = plait.http.post(f"/api/v1/workflows/{workflow}/runs", json={"params": params})
    assert response.status_code == 201, response.text
    run_id: int = response.json()["id"]
    deadline = time.monotonic() + 60
    while plait.http.get(f"/api/v1/runs/{run_id}").json()["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, f"run {run_id} did not end"
        time.sleep(0.2)
    return run_id


def same(figure: Locator, api_value: float | None) -> None:
    """The figure holds the API's value (written as JavaScript writes a number)."""
    if api_value is None:
        expect(figure).to_have_attribute("value", "")
    else:
        number = float(api_value)
        expect(figure).to_have_attribute("value", str(int(number)) if number.is_integer()
                                         else repr(number))  # fmt: skip


def check_run_figures(page: Page, runs: dict[str, Any]) -> None:
    same(page.get_by_test_id("stat-total"), runs["total"])
    same(page.get_by_test_id("stat-success-rate"), runs["success_rate"])
    expect(page.get_by_test_id("stat-success-rate")).to_have_text(
        f"{runs['success_rate'] * 100:.1f} %"
    )
    same(page.get_by_test_id("stat-p50"), runs["duration"]["p50"])
    same(page.get_by_test_id("stat-p95"), runs["duration"]["p95"])
    for status, count in runs["by_status"].items():
        chip = page.get_by_test_id("by-status").locator(f"span[data-status={status}] data")
        same(chip, count)


def test_the_overview_and_a_workflows_stats_show_the_apis_figures(
    admin_page: Page, plait: Plait
) -> None:
    spec = {"name": "flaky", "params": {"fail": {"type": "boolean", "default": False}},
            "tasks": [{"key": "check", "kind": "python", "code": FLAKY}]}  # fmt: skip
    create_workflow(plait.http, spec)
    run_to_the_end(plait, "flaky")
    run_to_the_end(plait, "flaky")
    failed = run_to_the_end(plait, "flaky", fail=True)
    page = admin_page
    page.goto("/workflows")

    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    whole = plait.http.get("/api/v1/stats?days=7").json()
    expect(page.get_by_test_id("overview")).to_have_attribute("data-days", "7")
    check_run_figures(page, whole["runs"])
    for key, value in whole["active"].items():
        same(page.get_by_test_id(f"active-{key}"), value)
    row = page.get_by_test_id("failing-workflows").locator("tr[data-workflow=flaky]")
    expect(row.locator("td").first).to_have_text("1")
    today = page.get_by_test_id("per-day").locator(".day").last
    expect(today).to_have_attribute("aria-label", f"{whole['per_day'][-1]['date']}: 3 runs "
                                    "(2 succeeded, 1 failed)")  # fmt: skip
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

    # The failing workflow's name opens its Stats tab.
    row.get_by_role("link", name="flaky").click()
    expect(page.get_by_role("tab", name="Stats")).to_have_attribute("aria-selected", "true")
    stats = plait.http.get("/api/v1/workflows/flaky/stats?days=30").json()
    check_run_figures(page, stats["runs"])
    task = page.get_by_test_id("task-stats").locator("tr[data-task=check] data")
    expect(task).to_have_count(5)
    figures = stats["tasks"][0]
    for cell, value in zip(task.all(), ("attempts", "success_rate", "retries"), strict=False):
        same(cell, figures[value])
    same(task.nth(3), figures["duration"]["p50"])
    same(task.nth(4), figures["duration"]["p95"])
    failures = page.get_by_test_id("failures")
    expect(failures).to_contain_text(stats["failures"][0]["error"] or "(no message)")
    page.screenshot(path=str(SHOTS / "workflow-stats.png"), full_page=True)

    # Another window: the selector asks the API for 7 days.
    page.get_by_label("Last").select_option("7")
    expect(page.get_by_test_id("workflow-stats")).to_have_attribute("data-days", "7")
    expect(page.get_by_test_id("per-day").locator(".day")).to_have_count(7)
    check_run_figures(page, plait.http.get("/api/v1/workflows/flaky/stats?days=7").json()["runs"])

    # The latest failed run is a link away.
    failures.get_by_role("link", name=f"#{failed}").click()
    expect(page).to_have_url(f"{plait.server.url}/runs/{failed}")
