"""Cron: exactly one run per fire time, even with two schedulers ticking at once on one
PostgreSQL database; one run per missed minute with catch-up, only the latest without; none
for paused workflows; and `next_fire_at` moved past now."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from plait.auth.roles import Principal, Role
from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import Run, TaskAttempt, User, Workflow
from plait.executors.base import AttemptRef, Dispatch, Emit, Executor
from plait.orchestration.scheduler import Scheduler
from plait.settings import Settings
from plait.workflows import store
from plait.workflows.spec import WorkflowSpec
from tests.conftest import SECRET, new_pg_database

MISSED = 5  # minutes the schedules are behind
MINUTE = timedelta(minutes=1)


class RecordingExecutor:
    """Runs nothing; records what it is asked to run. Ticks never dispatch, so this stays
    empty: the tests are about the runs cron creates, not about running them."""

    name = "recording"
    queued_timeout: float | None = None

    def __init__(self) -> None:
        self.submitted: list[Dispatch] = []

    async def capacity(self) -> int:
        return 100

    def holds(self, attempt_id: int) -> bool:
        return False

    async def start(self, emit: Emit) -> None:
        return None

    async def submit(self, job: Dispatch) -> None:
        self.submitted.append(job)

    async def terminate(self, attempt_id: int, reason: str) -> None:
        return None

    async def recover_orphans(self, attempts: list[AttemptRef]) -> set[int]:
        return set()

    async def stop(self) -> None:
        return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new PostgreSQL database, migrated, of this test alone."""
    with new_pg_database("plait_cron") as url:
        asyncio.run(_migrate(url))
        yield url


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'plait.db'}"


@pytest.fixture
async def databases(pg_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two handles (two pools) on one PostgreSQL database: as two servers have."""
    first, second = Database(pg_url), Database(pg_url)
    yield first, second
    await first.dispose()
    await second.dispose()


def scheduler(db: Database, tmp_path: Path) -> Scheduler:
    settings = Settings(data_dir=tmp_path / "data", database_url=db.url, secret_key=SECRET)
    executor = RecordingExecutor()
    assert isinstance(executor, Executor)
    return Scheduler(db, settings, executor)


def minute_floor(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


async def add_workflow(db: Database, name: str, *, catchup: bool, paused: bool = False) -> int:
    """A workflow firing every minute, `MISSED` minutes behind; its owner is a new user."""
    since = minute_floor(datetime.now(UTC)) - MISSED * MINUTE
    spec = WorkflowSpec.model_validate(
        {"name": name, "schedule": "* * * * *", "catchup": catchup,
         "tasks": [{"key": "t", "kind": "shell", "command": "true"}]}
    )  # fmt: skip
    async with db.write() as session:
        user = User(username=f"{name}-owner", role="editor", password_hash="-", is_active=True)
        session.add(user)
        await session.flush()
        who = Principal(user.id, user.username, Role.editor)
        wf = await store.create(session, who, spec, paused=paused)
        await session.execute(
            update(Workflow).where(Workflow.id == wf.id).values(next_fire_at=since)
        )
        return wf.id


async def fire_times(db: Database, workflow_id: int) -> list[datetime]:
    """The scheduled_for of every run of the workflow, oldest first, duplicates kept."""
    async with db.read() as session:
        rows = await session.execute(
            select(Run.scheduled_for).where(Run.workflow_id == workflow_id).order_by(Run.id)
        )
        found = [w for w in rows.scalars() if w is not None]
    return sorted(found)


async def next_fire(db: Database, workflow_id: int) -> datetime | None:
    async with db.read() as session:
        wf = await session.get(Workflow, workflow_id)
        assert wf is not None
        return wf.next_fire_at


async def tick_together(schedulers: list[Scheduler], rounds: int) -> tuple[datetime, datetime]:
    """Tick every scheduler at once, `rounds` times; returns the time before and after."""
    before = datetime.now(UTC)
    for _ in range(rounds):
        await asyncio.gather(*(s.tick() for s in schedulers))
    return before, datetime.now(UTC)


def assert_catchup(found: list[datetime], before: datetime, after: datetime) -> None:
    """One run per minute from the first missed fire time to the last due one: each once."""
    since = minute_floor(before) - MISSED * MINUTE
    assert found, "no run"
    assert found[0] == since, found
    assert minute_floor(before) <= found[-1] <= minute_floor(after), found
    expected = [since + i * MINUTE for i in range(len(found))]
    assert found == expected, f"each minute exactly once: {found}"


def assert_latest_only(found: list[datetime], before: datetime, after: datetime) -> None:
    """Only the latest fire time (a new minute may begin while the test ticks): each once."""
    assert found, "no run"
    assert len(found) == len(set(found)), f"duplicate runs: {found}"
    assert all(minute_floor(before) <= w <= minute_floor(after) for w in found), found
    assert len(found) <= 1 + (minute_floor(after) - minute_floor(before)) // MINUTE, found


async def assert_scheduled_runs(db: Database, workflow_ids: list[int]) -> None:
    """Every cron run is queued, triggered by the schedule, with one pending attempt."""
    async with db.read() as session:
        runs = (await session.execute(select(Run).where(Run.workflow_id.in_(workflow_ids)))).all()
        attempts = (await session.execute(select(TaskAttempt.status))).scalars().all()
    assert {(r.status, r.trigger) for (r,) in runs} == {("queued", "schedule")}
    assert sorted(attempts) == ["pending"] * len(runs)


@pytest.mark.postgresql
async def test_two_schedulers_make_one_run_per_fire_time(
    databases: tuple[Database, Database], tmp_path: Path
) -> None:
    db, other = databases
    catchup = await add_workflow(db, "catchup", catchup=True)
    latest = await add_workflow(db, "latest", catchup=False)
    paused = await add_workflow(db, "paused", catchup=True, paused=True)
    paused_since = await next_fire(db, paused)
    schedulers = [scheduler(db, tmp_path), scheduler(other, tmp_path)]
    before, after = await tick_together(schedulers, rounds=4)
    assert_catchup(await fire_times(db, catchup), before, after)
    assert_latest_only(await fire_times(db, latest), before, after)
    assert await fire_times(db, paused) == []
    assert await next_fire(db, paused) == paused_since
    for workflow_id in (catchup, latest):
        await assert_moved_on(other, workflow_id, after)
    await assert_scheduled_runs(db, [catchup, latest])


async def assert_moved_on(db: Database, workflow_id: int, after: datetime) -> None:
    """The next fire time is past the last run made, and at most the minute after now."""
    upcoming = await next_fire(db, workflow_id)
    made = await fire_times(db, workflow_id)
    assert upcoming is not None and made[-1] < upcoming <= minute_floor(after) + MINUTE, upcoming


async def test_ticking_again_makes_no_duplicate_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    try:
        await migrate.upgrade(db)
        one = scheduler(db, tmp_path)
        catchup = await add_workflow(db, "catchup", catchup=True)
        latest = await add_workflow(db, "latest", catchup=False)
        since = await next_fire(db, catchup)
        before, _ = await tick_together([one], rounds=2)
        await rewind(db, catchup, since)  # as a scheduler that read the row before the tick
        _, after = await tick_together([one], rounds=1)
        assert_catchup(await fire_times(db, catchup), before, after)
        assert_latest_only(await fire_times(db, latest), before, after)
        await assert_moved_on(db, catchup, after)
    finally:
        await db.dispose()


async def rewind(db: Database, workflow_id: int, since: datetime | None) -> None:
    async with db.write() as session:
        await session.execute(
            update(Workflow).where(Workflow.id == workflow_id).values(next_fire_at=since)
        )
