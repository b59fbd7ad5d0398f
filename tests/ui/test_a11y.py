"""Accessibility: axe-core on every page of the UI, in light and dark mode, with no serious
or critical violation; every key action reachable from the keyboard."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.cli.conftest import Plait
from tests.ui.axe import Audit
from tests.ui.conftest import create_workflow, open_page

METRICS = "import plait\nfor step in (1, 2):\n    plait.log_metric('loss', 1 / step, step=step)\n" \
          "print('done')\n"  # fmt: skip


MODEL = """
import plait
import numpy as np
from sklearn.linear_model import LogisticRegression
plait.log_metric("accuracy", 0.9)
plait.log_model(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), "tour-model",
                sample=np.eye(4)[:2])
"""


def wait_for_run(plait: Plait, run_id: int) -> None:
    deadline = time.monotonic() + 60
    while plait.http.get(f"/api/v1/runs/{run_id}").json()["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def tour(plait: Plait) -> dict[str, int]:
    """Something on every page: a scheduled workflow with params and two versions, a finished
    run with a metric, a failed run of a paused workflow, a token, a notification channel and
    a rule."""
    spec = {
        "name": "tour", "description": "Every page has something. See the docs.",
        "schedule": "0 6 * * *", "timezone": "Europe/Paris", "tags": ["a11y"],
        "params": {"rows": {"type": "integer", "default": 3, "description": "How many."}},
        "tasks": [{"key": "first", "kind": "python", "code": METRICS},
                  {"key": "second", "kind": "shell", "command": "echo hi",
                   "depends_on": ["first"]}],
    }  # fmt: skip
    wf = create_workflow(plait.http, spec)
    spec["description"] = "Changed once, so there is a diff."
    plait.http.put(f"/api/v1/workflows/{wf['id']}", json=spec).raise_for_status()
    run = plait.http.post(f"/api/v1/workflows/{wf['id']}/runs", json={}).json()
    wait_for_run(plait, run["id"])
    fails = create_workflow(plait.http, {
        "name": "tour-fails", "schedule": "*/5 * * * *", "paused": True,
        "tasks": [{"key": "boom", "kind": "shell", "command": "echo oops; exit 3"}],
    })  # fmt: skip
    failed = plait.http.post(f"/api/v1/workflows/{fails['id']}/runs", json={}).json()
    wait_for_run(plait, failed["id"])
    plait.http.post("/api/v1/tokens", json={"name": "laptop"}).raise_for_status()
    hook = {"name": "ops", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/hook"},
            "secret": "a-signing-key-of-some-length"}  # fmt: skip
    channel = plait.http.post("/api/v1/channels", json=hook).json()
    rule = {"name": "failures", "channel_id": channel["id"], "events": ["run.failed"]}
    plait.http.post("/api/v1/rules", json=rule).raise_for_status()
    plait.http.post("/api/v1/datasets", json={"name": "tour-data", "tags": ["a11y"]})
    plait.http.post("/api/v1/datasets/tour-data/versions",
                    files={"file": ("t.csv", b"a,b\n1,2\n")}).raise_for_status()  # fmt: skip
    model = create_workflow(plait.http, {"name": "tour-model", "tasks": [
        {"key": "fit", "kind": "python", "code": MODEL}]})  # fmt: skip
    fitted = plait.http.post(f"/api/v1/workflows/{model['id']}/runs", json={}).json()
    wait_for_run(plait, fitted["id"])
    deployment = {"name": "tour-api", "model": "tour-model", "version": 1}
    plait.http.post("/api/v1/deployments", json=deployment).raise_for_status()
    swept = {"grid": {"rows": [1, 2]}, "max_parallel": 2, "metric": "loss", "direction": "min"}
    sweep = plait.http.post(f"/api/v1/workflows/{wf['id']}/sweeps", json=swept).json()
    for row in sweep["rows"]:
        wait_for_run(plait, row["run_id"])
    exported = plait.http.post("/api/v1/models/tour-model/versions/1/export", json={},
                               timeout=120)  # fmt: skip
    assert exported.status_code == 201, exported.text
    return {"workflow": wf["id"], "run": run["id"], "failed": failed["id"], "sweep": sweep["id"],
            "model": 1}  # fmt: skip


def heartbeat(plait: Plait) -> None:
    """A worker reports in (the Workers page lists those heard from in the last 15 s)."""
    name = f"box-{time.monotonic_ns()}"  # a token's name is unique
    worker = plait.http.post("/api/v1/tokens", json={"name": name, "worker": True}).json()
    beat = {"worker": "box-1:42", "queues": ["default"], "concurrency": 2, "running": []}
    as_worker = {"Authorization": f"Bearer {worker['token']}"}
    response = plait.http.post("/api/v1/exec/workers/heartbeat", json=beat, headers=as_worker)
    response.raise_for_status()


@pytest.fixture(params=["light", "dark"])
def scheme(request: pytest.FixtureRequest) -> str:
    """The system's colour scheme, which the UI's theme follows."""
    value: str = request.param
    return value


@pytest.fixture
def themed_page(
    browser: Browser, plait: Plait, scheme: str, request: pytest.FixtureRequest
) -> Iterator[Page]:
    for page in open_page(browser, plait, "admin", request):
        page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        yield page


def visit(audit: Audit, path: str, ready: Callable[[Page], None]) -> None:
    audit.page.goto(path)
    ready(audit.page)
    expect(audit.page.locator(".spinner")).to_have_count(0)  # all loaded
    audit.check(path)


def heading(text: str) -> Callable[[Page], None]:
    return lambda page: expect(page.locator("h1")).to_have_text(text)


def shows(selector: str, text: str | None = None) -> Callable[[Page], None]:
    def ready(page: Page) -> None:
        found = page.locator(selector)
        expect(found).to_contain_text(text) if text else expect(found).to_be_visible()

    return ready


def test_the_login_page_is_accessible(anonymous_page: Page) -> None:
    audit = Audit(anonymous_page)
    for scheme in ("light", "dark"):
        anonymous_page.emulate_media(color_scheme=scheme)
        visit(audit, "/login", shows("#username"))
        expect(anonymous_page.get_by_role("heading", level=1)).to_have_text("Plait")
    audit.assert_clean()


def test_every_page_is_accessible(
    themed_page: Page, scheme: str, tour: dict[str, int], plait: Plait
) -> None:
    page = themed_page
    audit = Audit(page)
    visit(audit, "/workflows", shows("[data-workflow=tour]"))
    expect(page.locator("html")).to_have_attribute("data-theme", scheme)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    audit.check("the shortcuts")
    page.keyboard.press("Escape")
    visit(audit, "/workflows/tour", shows("[data-testid=recent-runs]"))
    page.keyboard.press("t")
    expect(page.get_by_role("dialog", name="Trigger tour")).to_be_visible()
    audit.check("the trigger dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    audit.check("a confirmation")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Save as template").click()
    expect(page.get_by_role("dialog", name="Save tour as a template")).to_be_visible()
    audit.check("the save-as-template dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Sweep", exact=True).click()
    expect(page.get_by_role("dialog", name="Sweep tour")).to_be_visible()
    audit.check("the sweep dialog")
    page.keyboard.press("Escape")
    visit(audit, f"/sweeps/{tour['sweep']}", shows("[data-testid=sweep-best]", "Best"))
    visit(audit, "/workflows/tour?tab=edit", shows("[data-task-index='1']"))
    page.get_by_role("tab", name="YAML").click()
    expect(page.get_by_role("textbox", name="Workflow YAML")).to_contain_text("name: tour")
    audit.check("the YAML tab")
    visit(audit, "/workflows/tour?tab=versions", shows("[data-testid=diff]"))
    visit(audit, "/workflows/tour-fails", shows("[data-testid=next-fire]", "paused"))
    visit(audit, "/workflows/tour-fails?tab=stats", shows("[data-testid=failures]"))
    page.get_by_text("Runs per day as a table").click()
    audit.check("the runs per day table")
    visit(audit, "/overview", shows("[data-testid=failing-workflows]", "tour-fails"))
    visit(audit, "/workflows/new", heading("New workflow"))
    visit(audit, "/templates", shows("[data-template=sklearn-training]"))
    page.get_by_role("button", name="Use template sklearn-training").click()
    expect(page.get_by_role("dialog", name="Use sklearn-training")).to_be_visible()
    audit.check("the use-template dialog")
    page.keyboard.press("Escape")
    page.get_by_test_id("describe-run").click()
    chat = page.get_by_role("dialog", name="Describe a run")
    chat.get_by_label("What should run?").press_sequentially("run tour with rows 5 and blue")
    chat.get_by_label("What should run?").press("Enter")
    expect(chat.locator("#param-rows")).to_have_value("5")
    audit.check("the describe-a-run panel")
    page.keyboard.press("Escape")
    visit(audit, "/runs", shows(f"tr[data-run='{tour['failed']}']"))
    visit(audit, f"/runs/{tour['run']}", shows("[data-testid=log]", "done"))
    visit(audit, f"/runs/{tour['failed']}", shows("[data-testid=log]", "oops"))
    visit(audit, f"/compare?ids={tour['run']},{tour['failed']}", shows(".chart[data-overlay=loss]"))
    heartbeat(plait)
    visit(audit, "/workers", shows("[data-testid=workers]", "box-1"))
    visit(audit, "/datasets", shows("[data-dataset=tour-data]"))
    visit(audit, "/datasets/tour-data", shows("[data-testid=versions]", "t.csv"))
    page.get_by_role("button", name="Lineage").click()
    expect(page.get_by_test_id("lineage")).to_be_visible()
    audit.check("a version's lineage")
    visit(audit, "/models", shows("[data-model=tour-model]"))
    visit(audit, "/models/tour-model", shows("[data-testid=model-versions]", "accuracy"))
    page.get_by_role("button", name="Promote to staging").click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    audit.check("a stage change's confirmation")
    page.keyboard.press("Escape")
    visit(audit, f"/models/tour-model/versions/{tour['model']}/export",
          shows("[data-testid=export-result]"))  # fmt: skip
    visit(audit, "/deployments", shows("[data-deployment=tour-api]", "tour-model"))
    page.get_by_role("button", name="Deploy a model").click()
    expect(page.get_by_role("dialog", name="Deploy a model")).to_be_visible()
    audit.check("the deploy dialog")
    page.keyboard.press("Escape")
    visit(audit, "/deployments/tour-api", shows("[data-testid=try-it]", "f0"))
    visit(audit, "/settings?tab=profile", shows("[data-testid=profile]"))
    visit(audit, "/settings?tab=tokens", shows("[data-testid=tokens]", "laptop"))
    visit(audit, "/settings?tab=users", shows("[data-testid=users]", "admin"))
    visit(audit, "/settings?tab=notifications", shows("[data-channel=ops]"))
    visit(audit, "/no/such/page", heading("Not found"))
    audit.assert_clean()


def tab_to(page: Page, target: Locator, presses: int = 80) -> None:
    """Press Tab until `target` has the focus, as a keyboard user gets there; each stop on the
    way must show where the focus is (an outline)."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("(el) => el === document.activeElement"):
            outline = target.evaluate("(el) => getComputedStyle(el).outlineStyle")
            assert outline != "none", "the focus is not visible"
            return
    raise AssertionError(f"Tab never reached {target}")


def test_key_actions_are_reachable_from_the_keyboard(admin_page: Page, plait: Plait) -> None:
    one = {"key": "one", "kind": "shell", "command": "echo one"}
    two = {"key": "two", "kind": "shell", "command": "echo two", "depends_on": ["one"]}
    create_workflow(plait.http, {"name": "keys", "tasks": [one, two]})
    page = admin_page
    page.goto("/workflows/keys")
    expect(page.locator("h1")).to_have_text("keys")

    # Tabs: Tab reaches the selected one, the arrow keys move and select.
    overview = page.get_by_role("tab", name="Overview")
    tab_to(page, overview)
    page.keyboard.press("ArrowRight")
    edit = page.get_by_role("tab", name="Edit")
    expect(edit).to_be_focused()
    expect(edit).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel", name="Edit")).to_contain_text("Task 2")
    page.keyboard.press("Home")
    expect(overview).to_have_attribute("aria-selected", "true")

    # Trigger a run: the dialog takes the focus and Enter in it starts the run.
    tab_to(page, page.get_by_role("button", name="Trigger"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Trigger keys")
    tab_to(page, dialog.get_by_role("button", name="Start run"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/runs/\d+"))
    run_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
    wait_for_run(plait, run_id)

    # A task of the graph: reached with Tab, chosen with Enter, its log shown.
    node = page.get_by_role("button", name=re.compile(r"^two"))
    tab_to(page, node)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("task-panel")).to_have_attribute("data-task", "two")
    expect(page.get_by_test_id("log")).to_contain_text("two")

    # Confirm a dialog: the focus stays inside it until it closes.
    page.goto("/workflows/keys")
    tab_to(page, page.get_by_role("button", name="Delete"))
    page.keyboard.press("Enter")
    confirm = page.get_by_role("alertdialog", name="Delete keys?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    for _ in range(4):  # Close, Cancel, Delete, and round again
        page.keyboard.press("Tab")
        assert confirm.evaluate("(el) => el.contains(document.activeElement)")
    tab_to(page, confirm.get_by_role("button", name="Delete"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/workflows$"))
    assert plait.http.get("/api/v1/workflows/keys").status_code == 404
