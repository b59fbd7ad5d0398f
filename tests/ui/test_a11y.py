"""Accessibility: axe-core on every page of the UI, in light and dark mode, with no serious
or critical violation; every key action reachable from the keyboard."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.cli.conftest import Plait
from tests.ui.axe import Audit
from tests.ui.conftest import create_workflow, open_page

SLOW = "import time\nimport plait\nplait.log_metric('loss', 0.5, step=1)\n" \
       "plait.log_metric('loss', 0.2, step=2)\nprint('done')\n"  # fmt: skip


def wait_for_run(plait: Plait, run_id: int) -> None:
    deadline = time.monotonic() + 60
    while plait.http.get(f"/api/v1/runs/{run_id}").json()["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def tour(plait: Plait) -> dict[str, int]:
    """Something on every page: a scheduled workflow with params and two versions, a finished
    run with a metric, a token, a notification channel and a rule."""
    spec = {
        "name": "tour", "description": "Every page has something. See the docs.",
        "schedule": "0 6 * * *", "timezone": "Europe/Paris", "tags": ["a11y"],
        "params": {"rows": {"type": "integer", "default": 3, "description": "How many."}},
        "tasks": [{"key": "first", "kind": "python", "code": SLOW},
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
    return {"workflow": wf["id"], "run": run["id"], "failed": failed["id"]}


@pytest.fixture(params=["light", "dark"])
def themed_page(browser: Browser, plait: Plait, request: pytest.FixtureRequest) -> Iterator[Page]:
    for page in open_page(browser, plait, "admin", request):
        page.emulate_media(color_scheme=request.param)
        yield page


def visit(audit: Audit, path: str, ready: Callable[[Page], None]) -> None:
    audit.page.goto(path)
    ready(audit.page)
    expect(audit.page.locator(".spinner")).to_have_count(0)  # all loaded
    audit.check(path)


def heading(text: str) -> Callable[[Page], None]:
    return lambda page: expect(page.locator("h1")).to_have_text(text)


def test_the_login_page_is_accessible(anonymous_page: Page) -> None:
    audit = Audit(anonymous_page)
    for scheme in ("light", "dark"):
        anonymous_page.emulate_media(color_scheme=scheme)
        visit(audit, "/login", lambda p: expect(p.locator("#username")).to_be_visible())
    audit.assert_clean()


def test_every_page_is_accessible(themed_page: Page, tour: dict[str, int]) -> None:
    page = themed_page
    audit = Audit(page)
    run = tour["run"]
    visit(audit, "/workflows", lambda p: expect(p.locator("[data-workflow=tour]")).to_be_visible())
    visit(
        audit,
        "/workflows/tour",
        lambda p: expect(p.locator("[data-testid=recent-runs]")).to_be_visible(),
    )
    visit(
        audit,
        "/workflows/tour?tab=edit",
        lambda p: expect(p.locator("[data-task-index='1']")).to_be_visible(),
    )
    page.get_by_role("tab", name="YAML").click()
    expect(page.get_by_role("textbox", name="Workflow YAML")).to_contain_text("name: tour")
    audit.check("the YAML tab")
    visit(
        audit,
        "/workflows/tour?tab=versions",
        lambda p: expect(p.locator("[data-testid=diff]")).to_be_visible(),
    )
    visit(audit, "/workflows/new", heading("New workflow"))
    visit(audit, "/runs", lambda p: expect(p.locator(f"tr[data-run='{run}']")).to_be_visible())
    visit(
        audit,
        f"/runs/{run}",
        lambda p: expect(p.locator("[data-testid=log]")).to_contain_text("done"),
    )
    visit(
        audit,
        f"/runs/{tour['failed']}",
        lambda p: expect(p.locator("[data-testid=log]")).to_contain_text("oops"),
    )
    visit(
        audit,
        "/workflows/tour-fails",
        lambda p: expect(p.get_by_test_id("next-fire")).to_be_visible(),
    )
    visit(audit, "/workers", heading("Workers"))
    for tab in ("profile", "tokens", "users", "notifications"):
        visit(
            audit,
            f"/settings?tab={tab}",
            lambda p: expect(p.locator(".tabs .active")).to_be_visible(),
        )
    visit(audit, "/no/such/page", heading("Not found"))
    audit.assert_clean()
