"""Sweeps in the browser: launched from the workflow page by typing each param's values, the
sweep page following it live to its end, its table sorted by a click on a metric's header,
the best run marked in words."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow

SCORE = (
    "import plait\np = plait.params()\n"
    "plait.log_metric('score', -(p['lr'] - 0.05) ** 2 - 0.001 * (p['depth'] - 5) ** 2)\n"
)


def test_launch_a_sweep_follow_it_and_sort_by_its_metric(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {
        "name": "tune", "max_active_runs": 4,
        "params": {"lr": {"type": "number", "default": 0.1, "maximum": 1},
                   "depth": {"type": "integer", "default": 3}},
        "tasks": [{"key": "fit", "kind": "python", "code": SCORE}],
    })  # fmt: skip
    page = admin_page
    page.goto("/workflows/tune")
    page.get_by_role("button", name="Sweep", exact=True).click()
    dialog = page.get_by_role("dialog", name="Sweep tune")
    count = dialog.get_by_test_id("sweep-runs")
    lr = dialog.get_by_label("lr", exact=True)
    lr.press_sequentially("0.01, 5")
    expect(count).to_have_text("2")
    dialog.get_by_label("depth", exact=True).press_sequentially("3, 5")
    expect(count).to_have_text("4")
    parallel = dialog.get_by_label("Max parallel")
    parallel.press("Control+a")
    parallel.press_sequentially("2")
    dialog.get_by_label("Metric", exact=True).press_sequentially("score")
    dialog.get_by_role("button", name="Start sweep").click()
    refused = dialog.locator(".field.invalid")  # 5 is above lr's maximum: said under lr
    expect(refused).to_contain_text("combination 3")
    lr.press("Control+a")
    lr.press_sequentially("0.01, 0.05")
    dialog.get_by_role("button", name="Start sweep").click()

    expect(page).to_have_url(re.compile(r"/sweeps/\d+$"))
    sweep_path = page.url.split(plait.server.url, 1)[1]
    sweep = page.get_by_test_id("sweep")
    expect(sweep).to_have_attribute("data-status", "succeeded", timeout=60_000)  # live
    expect(page.locator("[data-count=succeeded]")).to_have_text("4")
    table = page.get_by_test_id("sweep-table")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table.locator("td[data-key=score]")).to_have_count(4)
    best = table.locator("tr.best")
    expect(best.locator("td[data-param=lr]")).to_have_text("0.05")
    expect(best.locator("td[data-param=depth]")).to_have_text("5")
    expect(best.get_by_test_id("best-mark")).to_have_text("★ best")
    expect(page.get_by_test_id("sweep-best")).to_contain_text("score 0 with lr=0.05 depth=5")

    table.get_by_role("button", name="score").click()  # highest first
    expect(table.get_by_role("columnheader", name="score ▼")).to_have_attribute(
        "aria-sort", "descending"
    )
    expect(table.locator("tbody tr").first).to_have_class("best")
    table.get_by_role("button", name="score ▼").click()  # then lowest first
    expect(table.locator("tbody tr").last).to_have_class("best")
    first = table.locator("tbody tr").first
    expect(first.locator("td[data-param=lr]")).to_have_text("0.01")
    expect(first.locator("td[data-param=depth]")).to_have_text("3")

    page.get_by_label("Which way is better").select_option("min")
    expect(best.locator("td[data-param=depth]")).to_have_text("3")
    expect(page.get_by_test_id("sweep-scatter").locator("circle")).to_have_count(4)
    best.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    page.locator(f"a[href='{sweep_path}']").click()  # the run says which sweep made it
    expect(page.get_by_test_id("sweep")).to_be_visible()


def test_a_seeded_random_search_from_the_dialog(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {
        "name": "search", "max_active_runs": 4,
        "params": {"lr": {"type": "number", "default": 0.1}, "depth": {"type": "integer"}},
        "tasks": [{"key": "fit", "kind": "python", "code": SCORE}],
    })  # fmt: skip
    page = admin_page
    page.goto("/workflows/search")
    page.get_by_role("button", name="Sweep", exact=True).click()
    dialog = page.get_by_role("dialog", name="Sweep search")
    dialog.get_by_role("radio", name=re.compile("Random")).check()
    dialog.get_by_label("Distribution of lr").select_option("log_uniform")
    dialog.get_by_label("lr", exact=True).press_sequentially("0.0001, 0.1")
    dialog.get_by_label("Distribution of depth").select_option("choice")
    dialog.get_by_label("depth", exact=True).press_sequentially("3, 5, 7")
    draws = dialog.get_by_label("Draws", exact=True)
    draws.press("Control+a")
    draws.press_sequentially("6")
    expect(dialog.get_by_test_id("sweep-runs")).to_have_text("6")
    dialog.get_by_label("Seed", exact=True).press_sequentially("7")
    dialog.get_by_label("Max runs").press_sequentially("5")
    expect(dialog.get_by_test_id("sweep-count")).to_contain_text("the first 5 of 6 combinations")
    dialog.get_by_role("button", name="Start sweep").click()

    expect(page.get_by_text("random, seed 7 over lr, depth")).to_be_visible()
    rows = page.get_by_test_id("sweep-table").locator("tbody tr")
    expect(rows).to_have_count(5)
    sweep_id = int(page.url.rsplit("/", 1)[1])
    made = plait.http.get(f"/api/v1/sweeps/{sweep_id}").json()
    assert made["random"]["space"] == {"lr": {"log_uniform": [0.0001, 0.1]},
                                       "depth": {"choice": [3, 5, 7]}}  # fmt: skip
    assert all(r["swept"]["depth"] in (3, 5, 7) for r in made["rows"])
    body = {"random": {"n": 6, "seed": 7, "space": made["random"]["space"]}, "max_runs": 5}
    again = plait.http.post("/api/v1/workflows/search/sweeps", json=body)
    assert [r["swept"] for r in again.json()["rows"]] == [r["swept"] for r in made["rows"]]
