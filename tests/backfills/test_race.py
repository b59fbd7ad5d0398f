"""A backfill racing cron for the same fire times: each fire time gets exactly one run.

The scheduler's own tick is held off here (its cron would fire at the real time, for months
of hourly catch-up); the test fires cron itself, twice at once, as two schedulers' ticks
would, while two backfill requests for the same range come in.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from plait.db.models import Run, Workflow
from plait.orchestration import cron
from plait.settings import Settings
from tests.conftest import Account
from tests.support.backfills import backfill, iso, scheduled, utc

Accounts = dict[str, Account]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"tick_seconds": 3600.0})


async def test_cron_firing_the_same_times_as_two_backfills_makes_each_run_once(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    """Hourly across the October change (01:00 CEST to 04:00 CET: five fire times, 02:00
    twice); the workflow's cron owes the same fire times (catch-up from the first)."""
    ed, db = accounts["editor"], app.state.plait.db
    await scheduled(client, ed, "hourly", "0 * * * *", catchup=True, max_active_runs=5)
    first, last = datetime.fromisoformat("2026-10-24T23:00:00+00:00"), "2026-10-25T04:00"
    async with db.write() as session:  # cron owes every fire time since the first
        await session.execute(
            update(Workflow).where(Workflow.name == "hourly").values(next_fire_at=first)
        )

    async def tick() -> list[int]:
        async with db.write() as session:
            return await cron.fire_due(session, datetime.fromisoformat("2026-10-25T03:00+00:00"))

    one, ticked, two, ticked_too = await asyncio.gather(
        backfill(client, ed, "hourly", "2026-10-25T01:00", last, max_parallel=5),
        tick(),
        backfill(client, ed, "hourly", "2026-10-25T01:00", last, max_parallel=5),
        tick(),
    )
    assert one.status_code == two.status_code == 201, (one.text, two.text)
    expected = utc("2026-10-24T23:00:00", "2026-10-25T00:00:00", "2026-10-25T01:00:00",
                   "2026-10-25T02:00:00", "2026-10-25T03:00:00")  # fmt: skip
    async with db.read() as session:
        rows = await session.execute(
            select(Run.scheduled_for, Run.trigger, Run.backfill_id)
            .join(Workflow, Workflow.id == Run.workflow_id)
            .where(Workflow.name == "hourly")
        )
        made = list(rows.all())
    per_time = Counter(when.isoformat() for when, _, _ in made)
    assert sorted(per_time) == iso(expected) and set(per_time.values()) == {1}, per_time
    for answer in (one.json(), two.json()):  # each backfill: what it made, and what it found
        mine = {r["scheduled_for"] for r in answer["runs"]}
        assert sorted(iso([*mine, *answer["skipped"]])) == iso(expected)
        assert answer["total"] == len(mine)
    cron_made = sum(1 for _, trigger, _ in made if trigger == "schedule")
    assert cron_made == len(ticked) + len(ticked_too)
    assert one.json()["total"] + two.json()["total"] + cron_made == len(expected)
