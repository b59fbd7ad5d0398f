"""Run history in the browser: the grid of runs x tasks on the workflow page, every attempt of
a task with its own log, the selected task following the running one, a metric logged once as
a number, and the final metrics of the runs list."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import SHOTS, create_workflow

FINISHED = {"succeeded", "failed", "cancelled"}


def start(plait: Plait, workflow: str, **params: Any) -> int:
    response = plait.http.post(f"/api/v1/workflows/{workflow}/runs", json={"params": params})
    assert response.status_code == 201, response.text
    run_id: int = response.json()["id"]
    return run_id


def finished(plait: Plait, run_id: int, within: float = 60) -> dict[str, Any]:
    """The run once it has ended (the page under test is not what waits here)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run: dict[str, Any] = plait.http.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in FINISHED:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not end within {within} s")


CHECK = "import sys, plait\nprint('checking')\nsys.exit(1 if plait.params()['fail'] else 0)\n"


def test_the_grid_shows_real_runs_and_a_cell_opens_its_run(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {
        "name": "gridded",
        "params": {"fail": {"type": "boolean", "default": False}},
        "tasks": [{"key": "fetch", "kind": "shell", "command": "echo fetched"},
                  {"key": "check", "kind": "python", "code": CHECK, "depends_on": ["fetch"]}],
    })  # fmt: skip
    good = start(plait, "gridded")
    finished(plait, good)
    bad = start(plait, "gridded", fail=True)
    assert finished(plait, bad)["status"] == "failed"

    page = admin_page
    page.goto("/workflows/gridded")
    grid = page.get_by_test_id("grid")
    expect(grid.locator("thead th[data-run]")).to_have_count(2)
    columns = grid.locator("thead th[data-run]")
    expect(columns.nth(0)).to_have_attribute("data-run", str(good))  # the oldest on the left
    check = grid.locator("tr[data-task=check]")
    expect(check.locator(".cell")).to_have_count(2)
    expect(check.locator(".cell").nth(0)).to_have_attribute("data-status", "succeeded")
    failed = check.get_by_role("link", name=re.compile(rf"^check in run #{bad}: failed"))
    expect(failed).to_have_attribute("data-status", "failed")
    expect(grid.locator("tr[data-task=fetch] .cell[data-status=succeeded]")).to_have_count(2)
    expect(page.locator("[data-trend='Run duration'] canvas")).to_be_visible()
    grid.get_by_role("button", name="check").click()
    expect(page.locator("[data-trend='check duration'] canvas")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.get_by_test_id("history").screenshot(path=str(SHOTS / "workflow_grid.png"))

    # Live: a run started elsewhere becomes a new column without a reload.
    page.evaluate("window.__samePage = true")
    third = start(plait, "gridded")
    expect(columns).to_have_count(3)
    expect(columns.nth(2)).to_have_attribute("data-run", str(third))
    expect(
        grid.locator(f"tr[data-task=check] a[href='/runs/{third}?task=check']")
    ).to_have_attribute("data-status", "succeeded")
    assert page.evaluate("window.__samePage") is True

    failed.click()
    expect(page).to_have_url(re.compile(rf"/runs/{bad}\?task=check$"))
    panel = page.get_by_test_id("task-panel")
    expect(panel).to_have_attribute("data-task", "check")
    expect(panel.locator("h2 .status")).to_have_text("failed")
    expect(page.get_by_test_id("log")).to_contain_text("checking")


FLAKY = (
    'echo "attempt $PLAIT_ATTEMPT here"; [ "$PLAIT_ATTEMPT" -ge 2 ] || { echo "not yet"; exit 3; }'
)


def test_every_attempt_is_listed_with_its_own_log(admin_page: Page, plait: Plait) -> None:
    shaky = {"key": "shaky", "kind": "shell", "command": FLAKY, "retries": 1, "retry_delay": 0}
    create_workflow(plait.http, {"name": "flaky", "tasks": [shaky]})
    run_id = start(plait, "flaky")
    assert finished(plait, run_id)["status"] == "succeeded"

    page = admin_page
    page.goto(f"/runs/{run_id}")
    attempts = page.get_by_test_id("attempts")
    expect(attempts.locator("tbody tr[data-attempt]")).to_have_count(2)
    first = attempts.locator("tr[data-attempt='1']")
    expect(first.locator(".status")).to_have_text("failed")  # a try that was retried
    expect(first).to_contain_text("retried")
    expect(first.get_by_test_id("attempt-exit")).to_have_text("3")
    expect(attempts.locator("tr[data-attempt='2'] .status")).to_have_text("succeeded")
    log = page.get_by_test_id("log")
    expect(log).to_contain_text("attempt 2 here")  # the latest attempt's, at first
    expect(page.get_by_role("heading", name="Log of attempt 2")).to_be_visible()

    attempts.get_by_role("button", name="Log of attempt 1").click()
    expect(page.get_by_role("heading", name="Log of attempt 1")).to_be_visible()
    expect(log).to_contain_text("attempt 1 here")
    expect(log).to_contain_text("not yet")
    expect(log).not_to_contain_text("attempt 2 here")
    attempts.get_by_role("button", name="Log of attempt 2").click()
    expect(log).to_contain_text("attempt 2 here")
    expect(log).not_to_contain_text("attempt 1 here")


STEP = "echo {key} begins; sleep {seconds}; echo {key} ends"


def test_the_selected_task_follows_the_running_one_until_the_user_picks(
    admin_page: Page, plait: Plait
) -> None:
    create_workflow(plait.http, {"name": "relay", "tasks": [
        {"key": "one", "kind": "shell", "command": STEP.format(key="one", seconds=2)},
        {"key": "two", "kind": "shell", "command": STEP.format(key="two", seconds=2),
         "depends_on": ["one"]},
        {"key": "three", "kind": "shell", "command": STEP.format(key="three", seconds=2),
         "depends_on": ["two"]}]})  # fmt: skip
    run_id = start(plait, "relay")
    page = admin_page
    page.goto(f"/runs/{run_id}")
    panel = page.get_by_test_id("task-panel")
    dag = page.get_by_test_id("dag")
    expect(panel).to_have_attribute("data-task", "one")
    expect(panel).to_have_attribute("data-task", "two")  # followed, nobody clicked
    expect(page.get_by_test_id("log")).to_contain_text("two begins")

    dag.locator("[data-task=one]").click()  # the user's own pick
    expect(panel).to_have_attribute("data-task", "one")
    expect(dag.locator("[data-task=three]")).to_have_attribute("data-status", "running")
    expect(dag.locator("[data-task=three]")).to_have_attribute("data-status", "succeeded")
    expect(panel).to_have_attribute("data-task", "one")  # stayed with the pick
    expect(page).to_have_url(re.compile(r"\?task=one$"))


METRICS = """\
import plait
for step, loss in enumerate([0.9, 0.5, 0.25]):
    plait.log_metric("loss", loss, step=step)
plait.log_metric("accuracy", 0.9125)
"""


def test_a_metric_logged_once_is_a_number_and_the_runs_list_has_final_metrics(
    admin_page: Page, plait: Plait
) -> None:
    create_workflow(plait.http, {"name": "scored", "tasks": [
        {"key": "fit", "kind": "python", "code": METRICS}]})  # fmt: skip
    run_id = start(plait, "scored")
    assert finished(plait, run_id)["status"] == "succeeded"

    page = admin_page
    page.goto(f"/runs/{run_id}")
    accuracy = page.locator(".chart[data-metric=accuracy]")
    expect(accuracy.get_by_test_id("metric-value")).to_have_text("0.9125")
    expect(accuracy.locator("canvas")).to_have_count(0)
    expect(page.locator(".chart[data-metric=loss] canvas")).to_be_visible()

    page.goto("/runs")
    search = page.get_by_label("Workflow")
    search.press_sequentially("scored")
    search.press("Enter")
    table = page.get_by_test_id("final-metrics")
    expect(table.locator("thead th")).to_have_text(["Run", "Workflow", "accuracy", "loss"])
    row = table.locator(f"tr[data-metrics-run='{run_id}']")
    expect(row.locator("td[data-key=accuracy]")).to_have_text("0.9125")
    expect(row.locator("td[data-key=loss]")).to_have_text("0.25")  # the last one logged
    row.get_by_role("link", name=f"#{run_id}").click()
    expect(page).to_have_url(re.compile(rf"/runs/{run_id}$"))


EPOCHS = """\
import time
import plait

for epoch in range(1, 5):
    plait.progress(epoch / 10, f"epoch {epoch}/10")
    time.sleep(0.3)
print("waiting", flush=True)
time.sleep(120)
"""


def test_a_task_reporting_progress_shows_a_bar_and_stops_by_signal(
    admin_page: Page, plait: Plait
) -> None:
    create_workflow(plait.http, {"name": "epochs", "tasks": [
        {"key": "train", "kind": "python", "code": EPOCHS}]})  # fmt: skip
    run_id = start(plait, "epochs")
    page = admin_page
    page.goto(f"/runs/{run_id}")
    bar = page.get_by_test_id("task-panel").get_by_role("progressbar", name="Progress of train")
    expect(bar).to_have_attribute("aria-valuenow", "40")  # live, from task.progress events
    expect(bar).to_have_attribute(
        "aria-valuetext", re.compile(r"^40%, epoch 4/10 · about .+ left$")
    )
    panel = page.get_by_test_id("task-panel")
    expect(panel.get_by_test_id("progress-message")).to_have_text("epoch 4/10")
    expect(panel.get_by_test_id("progress-eta")).to_contain_text("left")
    expect(page.get_by_test_id("run-progress").get_by_role("progressbar")).to_have_count(1)

    page.reload()  # the same from the API's snapshot
    expect(bar).to_have_attribute("aria-valuenow", "40")
    expect(panel.get_by_test_id("progress-message")).to_have_text("epoch 4/10")

    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".page-head .status")).to_have_text("cancelled")
    expect(page.get_by_role("progressbar")).to_have_count(0)  # only while it runs
    exit_cell = panel.locator("tr[data-attempt='1']").get_by_test_id("attempt-exit")
    expect(exit_cell).to_have_text("SIGTERM")


LOGICAL = "import plait\nprint('logical date', plait.logical_date().isoformat())\n"


def test_a_backfill_from_its_dialog_makes_its_runs_and_shows_their_progress(
    admin_page: Page, plait: Plait
) -> None:
    create_workflow(plait.http, {
        "name": "nightly", "schedule": "0 2 * * *", "timezone": "Europe/Paris",
        "tasks": [{"key": "load", "kind": "python", "code": LOGICAL}],
    })  # fmt: skip
    page = admin_page
    page.goto("/workflows/nightly")
    page.get_by_role("button", name="Backfill").click()
    dialog = page.get_by_role("dialog", name="Backfill nightly")
    preview = dialog.get_by_test_id("backfill-preview")
    dialog.get_by_label("Start date").press_sequentially("03012026")
    expect(preview).to_contain_text("Pick the first and the last day")
    dialog.get_by_label("End date").press_sequentially("03042026")
    expect(dialog.get_by_test_id("backfill-count")).to_have_text("4")
    end = dialog.get_by_label("End date")
    for _ in range(2):  # back from the year to the month, as a person would
        end.press("Shift+Tab")
    end.press_sequentially("03032026")  # typed over: a day less
    expect(dialog.get_by_test_id("backfill-count")).to_have_text("3")
    parallel = dialog.get_by_label("Max parallel")
    parallel.press("Control+a")
    parallel.press_sequentially("2")
    dialog.get_by_role("button", name="Start backfill").click()

    progress = page.get_by_role("dialog", name=re.compile(r"^Backfill #\d+ of nightly$"))
    backfill = progress.get_by_test_id("backfill")
    expect(progress.get_by_test_id("backfill-ended")).to_have_text("3 of 3 runs ended")
    expect(backfill).to_have_attribute("data-status", "succeeded")
    expect(progress.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(progress.locator("[data-count=succeeded]")).to_have_text("3")
    backfill_id = int(progress.get_attribute("aria-label").split("#")[1].split()[0])  # type: ignore[union-attr]

    made = plait.http.get(f"/api/v1/backfills/{backfill_id}").json()
    assert made["max_parallel"] == 2
    assert [r["scheduled_for"] for r in made["runs"]] == [
        "2026-03-01T01:00:00Z", "2026-03-02T01:00:00Z", "2026-03-03T01:00:00Z"]  # fmt: skip
    first = made["runs"][0]["id"]
    log = plait.http.get(f"/api/v1/runs/{first}/tasks/load/logs").json()["content"]
    assert "logical date 2026-03-01T02:00:00+01:00" in log

    progress.get_by_role("button", name="Close").click()
    listed = page.get_by_test_id("backfills").locator(f"tr[data-backfill='{backfill_id}']")
    expect(listed.locator(".status")).to_have_text("succeeded")
    expect(page.get_by_test_id("grid").locator("thead th[data-run]")).to_have_count(3)
    listed.get_by_role("button", name=f"Backfill #{backfill_id}").click()
    expect(page.get_by_role("dialog").get_by_test_id("backfill-ended")).to_have_text(
        "3 of 3 runs ended"
    )


def test_a_backfill_is_cancelled_then_retried_from_its_dialog(
    admin_page: Page, plait: Plait
) -> None:
    create_workflow(plait.http, {"name": "slowfill", "schedule": "30 4 * * *", "tasks": [
        {"key": "nap", "kind": "shell", "command": "echo napping; sleep 60"}]})  # fmt: skip
    page = admin_page
    page.goto("/workflows/slowfill")
    page.get_by_role("button", name="Backfill").click()
    dialog = page.get_by_role("dialog", name="Backfill slowfill")
    dialog.get_by_label("Start date").press_sequentially("01102026")
    dialog.get_by_label("End date").press_sequentially("01122026")
    expect(dialog.get_by_test_id("backfill-count")).to_have_text("3")
    dialog.get_by_role("button", name="Start backfill").click()

    progress = page.get_by_role("dialog", name=re.compile(r"^Backfill #\d+ of slowfill$"))
    expect(progress.locator("[data-count=running]")).to_have_text("1")  # max parallel 1
    expect(progress.locator("[data-count=queued]")).to_have_text("2")
    progress.get_by_role("button", name="Cancel backfill").click()
    expect(progress.get_by_test_id("backfill")).to_have_attribute("data-status", "cancelled")
    expect(progress.locator("[data-count=cancelled]")).to_have_text("3")
    expect(progress.get_by_role("button", name="Cancel backfill")).to_have_count(0)

    progress.get_by_role("button", name="Retry failed").click()
    expect(progress.get_by_test_id("backfill")).to_have_attribute("data-status", "running")
    expect(progress.locator("[data-count=running]")).to_have_text("1")
    expect(progress.locator("[data-count=cancelled]")).to_have_text("0")
    progress.get_by_role("button", name="Cancel backfill").click()  # leaves nothing running
    expect(progress.get_by_test_id("backfill")).to_have_attribute("data-status", "cancelled")
