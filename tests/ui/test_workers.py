"""Workers in the browser: the Workers page lists a worker that heartbeats, and a run's task
panel names the worker that ran the attempt."""

from __future__ import annotations

import socket
import time

import httpx
from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import create_workflow


def test_the_workers_page_lists_a_worker_that_heartbeats(viewer_page: Page, plait: Plait) -> None:
    made = plait.http.post("/api/v1/tokens", json={"name": "gpu-box", "worker": True})
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    beat = {"worker": "gpu-box-1:4242", "queues": ["gpu", "default"], "concurrency": 4,
            "running": []}  # fmt: skip
    answer = httpx.post(f"{plait.server.url}/api/v1/exec/workers/heartbeat", json=beat,
                        headers=token)  # fmt: skip
    assert answer.status_code == 200, answer.text

    page = viewer_page
    page.goto("/workers")
    row = page.get_by_test_id("workers").locator("tr[data-worker='gpu-box-1:4242']")
    expect(row).to_contain_text("gpu-box-1")
    expect(row).to_contain_text("gpu")
    expect(row).to_contain_text("0 / 4")


def test_the_run_page_names_the_worker_of_an_attempt(admin_page: Page, plait: Plait) -> None:
    wf = create_workflow(plait.http, {"name": "where-it-ran",
                                      "tasks": [{"key": "hello", "kind": "shell",
                                                 "command": "echo hi"}]})  # fmt: skip
    run = plait.http.post(f"/api/v1/workflows/{wf['id']}/runs", json={}).json()
    deadline = time.monotonic() + 30
    while plait.http.get(f"/api/v1/runs/{run['id']}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the run did not succeed"
        time.sleep(0.1)
    page = admin_page
    page.goto(f"/runs/{run['id']}")
    expect(page.get_by_test_id("attempt-worker")).to_contain_text(f"{socket.gethostname()}:")
