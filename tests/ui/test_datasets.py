"""Datasets in the browser: an editor makes a dataset and uploads a file through the page
(with the progress bar shown while it goes), sees the version, and follows its lineage to the
run that read it; a viewer sees no upload form."""

from __future__ import annotations

import hashlib
import time

from playwright.sync_api import FilePayload, Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow

WATCH_PROGRESS = """() => { window.sawProgress = false;
  new MutationObserver(() => { if (document.querySelector('[data-testid=upload-progress]'))
    window.sawProgress = true; }).observe(document.body, { childList: true, subtree: true }); }"""
READ = "import plait\nprint(plait.dataset('flowers').read_text())\n"


def finished(plait: Plait, run_id: int) -> str:
    """The run's final status."""
    deadline = time.monotonic() + 60
    while (status := plait.http.get(f"/api/v1/runs/{run_id}").json()["status"]) not in (
        "succeeded", "failed"):  # fmt: skip
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.1)
    return str(status)


def test_upload_a_file_see_the_version_and_open_its_lineage(admin_page: Page, plait: Plait) -> None:
    page = admin_page
    page.goto("/datasets")
    expect(page.get_by_role("heading", name="No datasets yet")).to_be_visible()
    page.get_by_label("Name").press_sequentially("flowers")
    page.get_by_label("Tags").first.press_sequentially("botany")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator("h1")).to_have_text("flowers")

    # Record whether the progress bar ever shows (a small upload may be quick to end).
    page.evaluate(WATCH_PROGRESS)
    data = b"petal,sepal\n" + b"1.5,2.5\n" * 200_000
    page.get_by_label("File").set_input_files(
        files=FilePayload(name="flowers.csv", mimeType="text/csv", buffer=data)
    )
    page.get_by_label("sha256 (optional)").press_sequentially(hashlib.sha256(data).hexdigest())
    page.get_by_role("button", name="Upload", exact=True).click()
    row = page.get_by_test_id("versions").locator("tr[data-version='1']")
    expect(row).to_contain_text("flowers.csv")
    expect(row).to_contain_text("petal, sepal")
    expect(row).to_contain_text(hashlib.sha256(data).hexdigest()[:12])
    assert page.evaluate("window.sawProgress") is True

    wf = create_workflow(
        plait.http,
        {"name": "reads-flowers", "tasks": [{"key": "read", "kind": "python", "code": READ}]},
    )
    run = plait.http.post(f"/api/v1/workflows/{wf['id']}/runs", json={}).json()
    assert finished(plait, run["id"]) == "succeeded"

    row.get_by_role("button", name="Lineage").click()
    lineage = page.get_by_test_id("lineage")
    expect(lineage).to_contain_text("reads-flowers")
    expect(lineage).to_contain_text("read it")
    lineage.get_by_role("link", name=f"run {run['id']}").click()
    expect(page).to_have_url(f"{plait.server.url}/runs/{run['id']}")


def test_a_wrong_checksum_is_shown_beside_its_field(admin_page: Page, plait: Plait) -> None:
    plait.http.post("/api/v1/datasets", json={"name": "checked"}).raise_for_status()
    page = admin_page
    page.goto("/datasets/checked")
    page.get_by_label("File").set_input_files(
        files=FilePayload(name="a.txt", mimeType="text/plain", buffer=b"hello")
    )
    page.get_by_label("sha256 (optional)").press_sequentially("0" * 64)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_test_id("upload")).to_contain_text("nothing was kept")
    expect(page.get_by_role("heading", name="No versions yet")).to_be_visible()


def test_a_viewer_reads_but_cannot_upload(viewer_page: Page, plait: Plait) -> None:
    plait.http.post("/api/v1/datasets", json={"name": "readonly"}).raise_for_status()
    page = viewer_page
    page.goto("/datasets")
    expect(page.get_by_test_id("datasets").locator("tr[data-dataset=readonly]")).to_be_visible()
    expect(page.get_by_test_id("new-dataset")).to_have_count(0)
    page.get_by_role("link", name="readonly").click()
    expect(page.locator("h1")).to_have_text("readonly")
    expect(page.get_by_test_id("upload")).to_have_count(0)
