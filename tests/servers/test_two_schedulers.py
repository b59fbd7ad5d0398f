"""Two schedulers on one PostgreSQL database (two pools, as two processes have) dispatch each
attempt once: the claim pending -> queued is a compare-and-set that only one of them wins.
(One cron run per fire time with two schedulers: tests/orchestration/test_cron.py.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from plait.db.engine import Database
from plait.db.models import TaskAttempt
from plait.orchestration.scheduler import Scheduler
from tests.orchestration.test_cron import (
    RecordingExecutor,
    add_workflow,
    databases,  # noqa: F401  (a fixture)
    pg_url,  # noqa: F401  (a fixture)
    scheduler,
)

WORKFLOWS = 8


def submitted(s: Scheduler) -> list[int]:
    executor = s.executor
    assert isinstance(executor, RecordingExecutor)
    return [job.attempt_id for job in executor.submitted]


@pytest.mark.postgresql
async def test_two_schedulers_dispatch_each_attempt_once(
    databases: tuple[Database, Database],  # noqa: F811
    tmp_path: Path,
) -> None:
    db, other = databases
    for i in range(WORKFLOWS):
        await add_workflow(db, f"wf{i}", catchup=False)
    first, second = scheduler(db, tmp_path), scheduler(other, tmp_path)
    for _ in range(3):  # cron makes the runs; both see them all as needing attention
        await asyncio.gather(first.tick(), second.tick())
        await asyncio.gather(first.step(), second.step())
    counts = Counter(submitted(first) + submitted(second))
    assert counts, "nothing was dispatched"
    assert [a for a, n in counts.items() if n > 1] == [], "dispatched twice"
    async with db.read() as session:
        queued = set(
            (await session.execute(
                select(TaskAttempt.id).where(TaskAttempt.status == "queued")
            )).scalars()
        )  # fmt: skip
    assert set(counts) == queued
    assert len(queued) == WORKFLOWS  # one run at a time per workflow, one task each
