"""Running in the browser: trigger from the form the params schema generates, then watch the
run live (graph, log, metric chart) without reloading the page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow

COUNTING = """\
import time
import plait

n = plait.params()["rows"]
for i in range(n):
    plait.log_metric("loss", 1.0 / (i + 1), step=i)
    print(f"row {i + 1} of {n}", flush=True)
    time.sleep(0.3)
plait.set_output("rows", n)
"""


def test_trigger_with_params_and_watch_the_run_live(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {
        "name": "counting",
        "params": {"rows": {"type": "integer", "default": 3, "minimum": 1,
                            "description": "How many rows to count."}},
        "tasks": [{"key": "count", "kind": "python", "code": COUNTING},
                  {"key": "report", "kind": "shell", "command": "echo reported",
                   "depends_on": ["count"]}],
    })  # fmt: skip
    page = admin_page
    page.goto("/workflows/counting")
    expect(page.locator("h1")).to_have_text("counting")
    page.keyboard.press("t")  # the trigger shortcut
    dialog = page.get_by_role("dialog", name="Trigger counting")
    rows = dialog.locator("#param-rows")
    expect(rows).to_have_value("3")  # the default, from the schema

    rows.fill("0")
    dialog.get_by_role("button", name="Start run").click()
    expect(dialog.locator(".field-error")).to_contain_text("must be >= 1")
    rows.fill("4")
    dialog.get_by_role("button", name="Start run").click()

    expect(page).to_have_url(re.compile(r"/runs/\d+"))
    page.evaluate("window.__samePage = true")  # gone if anything reloads the page
    dag = page.locator("[data-testid=dag]")
    expect(dag.locator("[data-task=count]")).to_have_attribute("data-status", "running")
    expect(page.locator("[data-testid=log]")).to_contain_text("row 2 of 4")
    expect(dag.locator("[data-task=count]")).to_have_attribute("data-status", "succeeded")
    expect(dag.locator("[data-task=report]")).to_have_attribute("data-status", "succeeded")
    # The panel followed the running task to `report`; picking `count` shows its log again.
    expect(page.locator("[data-testid=log]")).to_contain_text("reported")
    dag.locator("[data-task=count]").click()
    expect(page.locator("[data-testid=log]")).to_contain_text("row 4 of 4")
    expect(page.locator(".page-head .status")).to_have_text("succeeded")
    expect(page.locator(".chart[data-metric=loss] canvas")).to_be_visible()
    expect(page.locator("[data-testid=outputs]")).to_contain_text("4")
    expect(page.locator("[data-testid=gantt] [data-task]")).to_have_count(2)
    assert page.evaluate("window.__samePage") is True

    run_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
    run = plait.http.get(f"/api/v1/runs/{run_id}").json()
    assert run["params"] == {"rows": 4}
    assert run["status"] == "succeeded"


def test_cancel_a_running_run_then_rerun_it(admin_page: Page, plait: Plait) -> None:
    wf = create_workflow(plait.http, {"name": "sleepy", "tasks": [
        {"key": "nap", "kind": "shell", "command": "echo napping; sleep 60"}]})  # fmt: skip
    run = plait.http.post(f"/api/v1/workflows/{wf['id']}/runs", json={}).json()
    page = admin_page
    page.goto(f"/runs/{run['id']}")
    nap = page.locator("[data-testid=dag] [data-task=nap]")
    expect(nap).to_have_attribute("data-status", "running")
    expect(page.locator("[data-testid=log]")).to_contain_text("napping")

    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".page-head .status")).to_have_text("cancelled")
    expect(nap).to_have_attribute("data-status", "cancelled")
    assert plait.http.get(f"/api/v1/runs/{run['id']}").json()["status"] == "cancelled"

    page.get_by_role("button", name="Rerun").click()
    expect(page).not_to_have_url(re.compile(rf"/runs/{run['id']}$"))
    expect(page.locator("[data-testid=dag] [data-task=nap]")).to_have_attribute(
        "data-status", "running"
    )
    rerun_id = int(page.url.rsplit("/", 1)[1])
    assert plait.http.get(f"/api/v1/runs/{rerun_id}").json()["rerun_of"] == run["id"]
    plait.http.post(f"/api/v1/runs/{rerun_id}/cancel").raise_for_status()


def test_the_runs_list_filters_by_workflow_and_status(admin_page: Page, plait: Plait) -> None:
    ok = create_workflow(plait.http, {"name": "passes", "tasks": [
        {"key": "t", "kind": "shell", "command": "true"}]})  # fmt: skip
    bad = create_workflow(plait.http, {"name": "breaks", "tasks": [
        {"key": "t", "kind": "shell", "command": "exit 3"}]})  # fmt: skip
    started = [plait.http.post(f"/api/v1/workflows/{wf['id']}/runs", json={}).json()["id"]
               for wf in (ok, bad, ok)]  # fmt: skip
    page = admin_page
    page.goto("/runs")
    for run_id in started:  # each row turns to its final status as the events arrive
        expect(page.locator(f"[data-run='{run_id}'] .status")).to_have_text(
            re.compile("succeeded|failed")
        )
    page.get_by_label("Status").select_option("failed")
    expect(page.locator("[data-testid=runs] tbody tr")).to_have_count(1)
    expect(page.locator(f"[data-run='{started[1]}']")).to_be_visible()

    page.get_by_label("Status").select_option("")
    page.get_by_label("Workflow").fill("passes")
    page.get_by_label("Workflow").press("Enter")
    rows = page.locator("[data-testid=runs] tbody tr")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"workflow=passes"))


def test_clone_then_trigger_with_params_given_as_json(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {
        "name": "original",
        "params": {"tags": {"type": "array", "default": ["a"]}},
        "tasks": [{"key": "t", "kind": "python",
                   "code": "import plait\nprint('tags:', plait.params()['tags'])"}],
    })  # fmt: skip
    page = admin_page
    page.goto("/workflows/original")
    page.get_by_role("button", name="Clone").click()
    page.fill("#clone-name", "copy-of-original")
    page.get_by_role("dialog").get_by_role("button", name="Clone").click()
    expect(page).to_have_url(re.compile(r"/workflows/copy-of-original$"))
    expect(page.locator("h1")).to_have_text("copy-of-original")

    page.get_by_role("button", name="Trigger").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Edit as JSON").click()
    dialog.get_by_label("Params as JSON").fill('{"tags": ["x", "y"]}')
    dialog.get_by_role("button", name="Start run").click()
    expect(page.locator("[data-testid=log]")).to_contain_text("tags: ['x', 'y']")
