"""/metrics: who may read it, and its values moving as a real workflow runs (SQLite and
PostgreSQL), with labels that stay bounded (route templates, never ids)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from fastapi import FastAPI

from plait.api.app import create_app
from plait.settings import Settings
from tests.conftest import Account
from tests.support.runs import trigger, wait_run
from tests.support.scrape import moved, scrape, value
from tests.support.workflows import create_workflow

Accounts = dict[str, Account]
RUN = "/api/v1/runs/{run_id}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Deliveries retried fast and given up after two tries."""
    return settings.model_copy(update={"notify_retry_seconds": 0.05, "notify_poll_seconds": 0.05,
                                       "notify_max_attempts": 2})  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_reads(app: FastAPI) -> None:
    """Every scrape reads the database (no 2 s cache between a test's scrapes)."""
    app.state.monitoring.state.cache_seconds = 0


async def test_a_run_moves_runs_attempts_durations_http_and_dispatches(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin, editor = accounts["admin"].headers, accounts["editor"]
    await create_workflow(client, editor)  # two tasks: load, then fit
    before = await scrape(client, admin)
    run = await trigger(client, editor, "train")
    done, polls = await wait_run(client, editor, run["id"])
    assert done["status"] == "succeeded", done
    after = await scrape(client, admin)

    assert moved(before, after, "plait_runs_total", status="queued") == 1
    assert moved(before, after, "plait_runs_total", status="running") == 1
    assert moved(before, after, "plait_runs_total", status="succeeded") == 1
    assert moved(before, after, "plait_attempts_total", status="pending") == 2
    assert moved(before, after, "plait_attempts_total", status="running") == 2
    assert moved(before, after, "plait_attempts_total", status="succeeded") == 2
    assert moved(before, after, "plait_attempt_duration_seconds_count", outcome="succeeded") == 2
    assert moved(before, after, "plait_attempt_duration_seconds_sum", outcome="succeeded") > 0
    assert moved(before, after, "plait_dispatches_total", executor="local") == 2
    assert moved(before, after, "plait_events_published_total") > 0
    post = {"method": "POST", "route": "/api/v1/workflows/{ref}/runs"}
    assert moved(before, after, "plait_http_requests_total", **post, status="201") == 1
    get = {"method": "GET", "route": RUN}
    assert moved(before, after, "plait_http_requests_total", **get, status="200") == polls
    assert moved(before, after, "plait_http_request_duration_seconds_count", **get) == polls
    assert value(after, "plait_runs_current", status="running") == 0
    assert value(after, "plait_queue_depth") == 0


async def test_labels_are_route_templates_never_ids_nor_urls(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = accounts["admin"].headers
    before = await scrape(client, admin)
    assert (await client.get("/api/v1/runs/987654", headers=admin)).status_code == 404
    assert (await client.get("/api/v1/no/such/987654", headers=admin)).status_code == 404
    assert (await client.request("BREW", "/api/v1/runs", headers=admin)).status_code == 405
    after = await scrape(client, admin)
    assert moved(before, after, "plait_http_requests_total", method="GET", route=RUN,
                 status="404") == 1  # fmt: skip
    assert moved(before, after, "plait_http_requests_total", method="GET", route="unmatched",
                 status="404") == 1  # fmt: skip
    assert moved(before, after, "plait_http_requests_total", method="other",
                 route="/api/v1/runs", status="405") == 1  # fmt: skip
    templates = {*app.openapi()["paths"], *(getattr(r, "path", "") for r in app.routes)}
    # The registry is the process's: other tests' apps counted requests too. What this one
    # counted is what moved.
    routes = {dict(labels)["route"] for (name, labels), v in after.items()
              if name.startswith("plait_http_") and v != before.get((name, labels))}  # fmt: skip
    assert routes
    assert routes <= templates | {"unmatched"}, routes - templates
    assert not any("987654" in str(labels) for _, labels in after)


async def test_runs_and_attempts_running_now_are_read_from_the_database(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin, editor = accounts["admin"].headers, accounts["editor"]
    await create_workflow(client, editor, tasks=[
        {"key": "nap", "kind": "python", "code": "import time\ntime.sleep(60)"}])  # fmt: skip
    run = await trigger(client, editor, "train")
    await wait_run(client, editor, run["id"], until=("running",))
    for _ in range(100):  # the attempt starts just after its run
        now = await scrape(client, admin)
        if value(now, "plait_attempts_current", status="running") == 1:
            break
        await asyncio.sleep(0.05)
    assert value(now, "plait_runs_current", status="running") == 1
    assert value(now, "plait_attempts_current", status="running") == 1
    cancel = await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=editor.headers)
    assert cancel.status_code < 300, cancel.text
    await wait_run(client, editor, run["id"])
    now = await scrape(client, admin)
    assert value(now, "plait_runs_current", status="running") == 0
    assert value(now, "plait_attempts_current", status="running") == 0


async def test_a_failing_delivery_moves_the_failed_counter(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin, editor = accounts["admin"].headers, accounts["editor"]
    with socket.socket() as s:  # a port nothing listens on: every send is refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    await create_workflow(client, editor)
    doc = {"name": "c", "kind": "webhook", "config": {"url": dead}, "secret": "k" * 16}
    channel = await client.post("/api/v1/channels", json=doc, headers=editor.headers)
    rule = {"name": "r", "channel_id": channel.json()["id"], "events": ["run.succeeded"]}
    assert (await client.post("/api/v1/rules", json=rule, headers=editor.headers)).is_success
    before = await scrape(client, admin)
    run = await trigger(client, editor, "train")
    await wait_run(client, editor, run["id"])
    failed = {"kind": "webhook", "outcome": "failed"}
    for _ in range(200):
        after = await scrape(client, admin)
        if moved(before, after, "plait_notification_deliveries_total", **failed):
            break
        await asyncio.sleep(0.05)
    assert moved(before, after, "plait_notification_deliveries_total", **failed) == 1
    retried = moved(before, after, "plait_notification_deliveries_total", kind="webhook",
                    outcome="retrying")  # fmt: skip
    assert retried == 1  # two tries: the first is retried, the second fails for good
    assert moved(before, after, "plait_notification_deliveries_total", kind="webhook",
                 outcome="sent") == 0  # fmt: skip


async def test_only_an_admin_reads_metrics_and_an_api_token_does(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    assert (await client.get("/metrics")).status_code == 401
    for role in ("viewer", "editor"):
        response = await client.get("/metrics", headers=accounts[role].headers)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
    token = await client.post("/api/v1/tokens", json={"name": "prometheus"},
                              headers=accounts["admin"].headers)  # fmt: skip
    bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    samples = await scrape(client, bearer)
    assert (
        value(samples, "plait_db_pool_size", engine="writer") >= 1
        or value(samples, "plait_db_pool_size", engine="shared") >= 1
    )


async def test_metrics_disabled_is_a_404_not_a_page(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics_enabled": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as c:
            response = await c.get("/metrics")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
