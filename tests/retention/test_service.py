"""The periodic pass in the scheduler's process, and one pass at a time on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from plait.db.engine import Database
from plait.orchestration.retention import LOCK_KEY, exclusive_pass
from plait.settings import Settings
from tests.conftest import PG_ADMIN_URL, Account
from tests.support.retention import add_run, fixtures, run_ids, workflow_id
from tests.support.scrape import moved, scrape
from tests.support.workflows import create_workflow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"retention_interval_seconds": 0.3})


async def test_the_server_removes_old_runs_on_its_own(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], settings: Settings
) -> None:
    db: Database = app.state.plait.db
    admin = accounts["admin"].headers
    before = await scrape(client, admin)
    await create_workflow(client, accounts["editor"], name="aging")
    wf = await workflow_id(db, "aging")
    fx = await fixtures(db, wf)
    now = datetime.now(UTC)
    old = await add_run(db, settings.data_dir, fx, wf, age_days=31, now=now)
    new = await add_run(db, settings.data_dir, fx, wf, age_days=29, now=now)

    deadline = time.monotonic() + 10
    while old in await run_ids(db):
        assert time.monotonic() < deadline, "no pass removed the old run"
        await asyncio.sleep(0.1)
    assert await run_ids(db) == {new}
    # Operators see the passes on /metrics.
    while moved(before, after := await scrape(client, admin), "plait_retention_removed_total",
                kind="runs") < 1:  # fmt: skip
        assert time.monotonic() < deadline, "the pass was not counted"
        await asyncio.sleep(0.1)
    assert moved(before, after, "plait_retention_removed_total", kind="attempts") >= 1
    assert moved(before, after, "plait_retention_pass_seconds_count") >= 1


@pytest.mark.postgresql
async def test_one_pass_at_a_time_on_postgresql(pg_database: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=pg_database)
    db = Database(pg_database)
    other = await asyncpg.connect(
        PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_database.rsplit("/", 1)[1]
    )
    try:
        await other.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        assert await exclusive_pass(db, settings) is None  # another scheduler's pass runs
        await other.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        assert await exclusive_pass(db, settings) is not None
    finally:
        await other.close()
        await db.dispose()
