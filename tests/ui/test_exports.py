"""The ONNX export panel in the browser: an editor exports a version (progress shows while
the server converts), sees how close the ONNX model is to the original and downloads it; a
model that cannot be converted shows why; a viewer sees the export but no button."""

from __future__ import annotations

import hashlib

from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.support.model_versions import classifier, data_dir, log_model_version_on
from tests.ui.conftest import create_workflow

WATCH_PROGRESS = """() => { window.sawProgress = false;
  new MutationObserver(() => { if (document.querySelector('.export-progress'))
    window.sawProgress = true; }).observe(document.body, { childList: true, subtree: true }); }"""


def logged(plait: Plait, name: str, **kwargs: object) -> int:
    task = {"key": "fit", "kind": "shell", "command": "true"}
    create_workflow(plait.http, {"name": f"train-{name}", "tasks": [task]})
    return log_model_version_on(data_dir(plait), f"train-{name}", name, **kwargs)


def test_export_a_version_see_the_difference_and_download_it(
    admin_page: Page, viewer_page: Page, plait: Plait
) -> None:
    number = logged(plait, "flowers", obj=classifier())
    page = admin_page
    page.goto(f"/models/flowers/versions/{number}/export")
    panel = page.get_by_test_id("export-panel")
    expect(panel).to_contain_text("Not exported yet.")
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Export to ONNX").click()
    result = page.get_by_test_id("export-result")
    expect(result).to_contain_text("Converted to ONNX; largest difference on the sample",
                                   timeout=60_000)  # fmt: skip
    assert page.evaluate("window.sawProgress") is True
    expect(page.get_by_test_id("max-abs-diff")).to_contain_text("(within tolerance)")
    expect(result).to_contain_text("sepal_length, sepal_width, petal_length, petal_width")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download model.onnx").click()
    download = info.value
    assert download.suggested_filename == f"flowers-v{number}.onnx"
    saved = download.path().read_bytes()
    listed = plait.http.get(f"/api/v1/models/flowers/versions/{number}/exports").json()
    assert hashlib.sha256(saved).hexdigest() == listed[0]["sha256"]
    expect(page.get_by_role("button", name="Export again")).to_be_visible()

    viewer_page.goto(f"/models/flowers/versions/{number}/export")
    expect(viewer_page.get_by_test_id("export-result")).to_contain_text("Largest difference")
    expect(viewer_page.get_by_role("button", name="Download package")).to_be_visible()
    expect(viewer_page.get_by_role("button", name="Export to ONNX")).to_have_count(0)
    expect(viewer_page.get_by_role("button", name="Export again")).to_have_count(0)


def test_a_model_that_cannot_be_converted_says_why(admin_page: Page, plait: Plait) -> None:
    number = logged(plait, "junk", flavor="pickle", raw=b"junk")
    page = admin_page
    page.goto(f"/models/junk/versions/{number}/export")
    page.get_by_role("button", name="Export to ONNX").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("Not exported", timeout=60_000)
    expect(error).to_contain_text("model.pkl failed to load: _pickle.UnpicklingError")
    expect(page.get_by_role("button", name="Export to ONNX")).to_be_enabled()
