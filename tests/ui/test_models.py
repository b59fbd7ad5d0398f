"""Models in the browser: versions a real run logged show on the model's page with their
metrics side by side; an editor promotes one by clicking (asked first), and the one that was
in production shows as archived; a viewer sees no stage buttons."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow

TWO = """
import plait
import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.eye(4)
for c in (0.5, 2.0):
    plait.log_metric("accuracy", c / 4)
    plait.log_model(LogisticRegression(C=c).fit(X, [0, 1, 0, 1]), "flowers", sample=X[:2])
"""


def logged(plait: Plait) -> None:
    """A real run logs two versions of `flowers`; v1 goes to production."""
    if plait.http.get("/api/v1/models/flowers").status_code == 200:
        return
    task = {"key": "fit", "kind": "python", "code": TWO}
    wf = create_workflow(plait.http, {"name": "fits-flowers", "tasks": [task]})
    run = plait.http.post(f"/api/v1/workflows/{wf['id']}/runs", json={}).json()
    deadline = time.monotonic() + 60
    while plait.http.get(f"/api/v1/runs/{run['id']}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the run did not succeed"
        time.sleep(0.1)
    plait.http.post("/api/v1/models/flowers/versions/1/stage",
                    json={"stage": "production"}).raise_for_status()  # fmt: skip


def test_promote_a_version_by_clicking_and_the_previous_is_archived(
    admin_page: Page, plait: Plait
) -> None:
    logged(plait)
    page = admin_page
    page.goto("/workflows")
    page.get_by_role("link", name="Models").click()
    page.get_by_label("Search models").press_sequentially("flow")
    page.get_by_role("link", name="flowers").click()
    expect(page.locator("h1")).to_have_text("flowers")
    versions = page.get_by_test_id("model-versions")
    stages = versions.locator("tr[data-row=stage]")
    expect(stages.locator("[data-stage]")).to_have_text(["no stage", "production"])
    expect(versions.locator("tr[data-metric=accuracy]")).to_contain_text("0.125")
    expect(versions.locator("tr[data-metric=accuracy]")).to_contain_text("0.5")

    # The newest is selected first; pick v2 explicitly anyway, then promote it.
    versions.get_by_role("button", name="v2").click()
    view = page.get_by_test_id("model-version")
    expect(view.locator("h2#version-title")).to_have_text("Version 2")
    expect(page.get_by_test_id("model-lineage")).to_contain_text("fits-flowers")
    expect(page.get_by_test_id("model-files")).to_contain_text("model.joblib")
    view.get_by_role("button", name="Promote to production").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("is archived")
    dialog.get_by_role("button", name="Promote to production").click()
    expect(stages.locator("[data-stage]")).to_have_text(["production", "archived"])
    expect(page.get_by_test_id("stage-history")).to_contain_text("none → production")

    # Back to v1: archived, and it can be brought back to staging.
    versions.get_by_role("button", name="v1").click()
    expect(view.locator("h2#version-title")).to_have_text("Version 1")
    expect(view.locator("[data-stage]").first).to_have_text("archived")
    view.get_by_role("button", name="Promote to staging").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Promote to staging").click()
    expect(stages.locator("[data-stage]")).to_have_text(["production", "staging"])
    versions_api = plait.http.get("/api/v1/models/flowers/versions").json()["items"]
    assert {v["version"]: v["stage"] for v in versions_api} == {1: "staging", 2: "production"}

    # Deploy the version in production from the model page: the deployment's page shows it.
    view.get_by_role("button", name="Deploy…").click()
    dialog = page.get_by_role("dialog", name="Deploy flowers")
    dialog.get_by_label("Deployment name").press_sequentially("flowers-live")
    dialog.get_by_label("the version in a stage").check()
    dialog.get_by_role("button", name="Deploy", exact=True).click()
    expect(page).to_have_url(re.compile(r"/deployments/flowers-live$"))
    deployed = plait.http.get("/api/v1/deployments/flowers-live").json()
    assert (deployed["model"], deployed["stage"]) == ("flowers", "production")


def test_a_viewer_sees_versions_but_no_stage_buttons(viewer_page: Page, plait: Plait) -> None:
    logged(plait)
    page = viewer_page
    page.goto("/models")
    expect(page.get_by_test_id("models").locator("tr[data-model=flowers]")).to_be_visible()
    page.get_by_role("link", name="flowers").click()
    expect(page.get_by_test_id("model-version")).to_be_visible()
    expect(page.get_by_test_id("stage-buttons")).to_have_count(0)

    # The run that logged them links to them.
    run_id = plait.http.get("/api/v1/models/flowers/versions/1").json()["run_id"]
    page.goto(f"/runs/{run_id}")
    made = page.get_by_test_id("run-models")
    expect(made).to_have_text("Models logged: flowers v1, flowers v2")
    made.get_by_role("link", name="flowers v2").click()
    expect(page.locator("h1")).to_have_text("flowers")
