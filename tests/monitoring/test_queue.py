"""The queue's depth and oldest wait on /metrics, read from the database: on an API-only
server (no scheduler here to start what waits), so nothing moves under the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from plait.db.models import TaskAttempt
from plait.settings import Settings
from tests.conftest import Account
from tests.support.runs import trigger
from tests.support.scrape import scrape, value
from tests.support.workflows import create_workflow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scheduler": False})


async def test_queued_runs_and_the_queue_depth_come_from_the_database(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    app.state.monitoring.state.cache_seconds = 0
    admin, editor = accounts["admin"].headers, accounts["editor"]
    await create_workflow(client, editor)
    empty = await scrape(client, admin)
    assert value(empty, "plait_queue_depth") == 0
    assert value(empty, "plait_queue_oldest_seconds") == 0
    run = await trigger(client, editor, "train")
    # An attempt sent to its executor 5 s ago and not started: what a backlog looks like.
    async with app.state.plait.db.write() as session:
        sent = datetime.now(UTC) - timedelta(seconds=5)
        session.add(TaskAttempt(run_id=run["id"], task_key="load", attempt=2, status="queued",
                                outputs={}, queued_at=sent))  # fmt: skip
    now = await scrape(client, admin)
    assert value(now, "plait_runs_current", status="queued") == 1
    assert value(now, "plait_runs_current", status="running") == 0
    assert value(now, "plait_attempts_current", status="queued") == 1
    assert value(now, "plait_queue_depth") == 1
    assert 5 <= value(now, "plait_queue_oldest_seconds") < 60


async def test_scrapes_close_together_share_one_read(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    admin, editor = accounts["admin"].headers, accounts["editor"]
    await create_workflow(client, editor)
    assert value(await scrape(client, admin), "plait_runs_current", status="queued") == 0
    await trigger(client, editor, "train")
    cached = await scrape(client, admin)  # within CACHE_SECONDS of the first: not read again
    assert value(cached, "plait_runs_current", status="queued") == 0
    app.state.monitoring.state.cache_seconds = 0
    assert value(await scrape(client, admin), "plait_runs_current", status="queued") == 1
