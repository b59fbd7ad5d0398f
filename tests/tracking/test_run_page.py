"""The run page shows where the run is forwarded, and why it is not there yet."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait, running_plait
from tests.ui.conftest import admin_page, browser, create_workflow  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def plait(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plait]:
    """A server forwarding to W&B offline, and to an adapter that does not exist."""
    env = {"PLAIT_TICK_SECONDS": "0.2", "PLAIT_HEARTBEAT_SECONDS": "0.2",
           "PLAIT_LOAD_DEMO": "false", "PLAIT_TRACKING": "wandb,nosuch",
           "PLAIT_TRACKING_RETRY_SECONDS": "0.2",
           "PLAIT_TRACKING_RETRY_MAX_SECONDS": "1"}  # fmt: skip
    with running_plait("tracking-ui", tmp_path_factory.mktemp("plait-tracking-ui"), **env) as p:
        yield p


def finished(plait: Plait, run_id: int, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run = plait.http.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] == "succeeded" and {t["status"] for t in run["tracking"]} == {
            "synced", "retrying"
        }:  # fmt: skip
            return
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} not succeeded and tracked: {run}")


@pytest.mark.timeout(180)
def test_the_run_page_says_where_the_run_was_forwarded(admin_page: Page, plait: Plait) -> None:  # noqa: F811
    code = "import plait\nplait.log_metric('loss', 0.5, step=1)\n"
    create_workflow(plait.http, {"name": "tracked", "tasks": [
        {"key": "train", "kind": "python", "code": code}]})  # fmt: skip
    run_id = plait.http.post("/api/v1/workflows/tracked/runs", json={}).json()["id"]
    finished(plait, run_id)

    admin_page.goto(f"/runs/{run_id}")
    line = admin_page.get_by_test_id("tracking")
    expect(line.locator("[data-adapter=wandb]")).to_have_text(f"wandb synced (plait-run-{run_id})")
    expect(line.locator("[data-adapter=nosuch]")).to_contain_text(
        "nosuch retrying: AdapterUnavailable: unknown tracking adapter 'nosuch'"
    )
