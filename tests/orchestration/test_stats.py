"""Statistics against figures computed by hand, on SQLite and PostgreSQL.

The history is written straight into the tables: runs and attempts with known statuses,
times and errors, around a fixed "now" (2026-03-10 15:00 UTC). A 7-day window then starts at
2026-03-04 00:00 UTC. Every number asserted below is worked out in the comments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import Run, TaskAttempt, Workflow
from plait.orchestration.stats import Window, instance_stats, workflow_stats

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
WEEK = Window.ending(7, NOW)
DATES = ["2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09",
         "2026-03-10"]  # fmt: skip
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def counts(**by_status: int) -> dict[str, int]:
    return {s: by_status.get(s, 0) for s in STATUSES}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate.upgrade(database)
    yield database
    await database.dispose()


# A task attempt: (task, attempt number, status, seconds it ran or None, error)
Attempt = tuple[str, int, str, float | None, str | None]


class History:
    """Writes runs and attempts; keeps the ids of the runs by the names the test gives."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ids: dict[str, int] = {}
        self.workflows: dict[str, int] = {}

    async def workflow(self, name: str) -> int:
        async with self.db.write() as session:
            wf = Workflow(name=name, spec={"name": name, "tasks": []})
            session.add(wf)
            await session.flush()
            self.workflows[name] = wf.id
            return wf.id

    async def run(
        self, name: str, workflow: str, created: datetime, status: str,
        seconds: float | None = None, attempts: tuple[Attempt, ...] = (),
    ) -> None:  # fmt: skip
        """A run created at `created`; started a minute later and, with `seconds`, finished
        that long after its start (no `seconds`: never started, or still running)."""
        started = (
            created + timedelta(minutes=1) if seconds is not None or status == "running" else None
        )
        finished = started + timedelta(seconds=seconds) if started and seconds is not None else None
        async with self.db.write() as session:
            run = Run(workflow_id=self.workflows[workflow], workflow_version=1, params={},
                      status=status, trigger="api", created_at=created, started_at=started,
                      finished_at=finished)  # fmt: skip
            session.add(run)
            await session.flush()
            self.ids[name] = run.id
            begin = created + timedelta(minutes=2)
            for key, number, attempt_status, ran, error in attempts:
                session.add(TaskAttempt(
                    run_id=run.id, task_key=key, attempt=number, status=attempt_status,
                    outputs={}, error=error, created_at=begin,
                    started_at=begin if ran is not None or attempt_status == "running" else None,
                    finished_at=begin + timedelta(seconds=ran) if ran is not None else None,
                ))  # fmt: skip


LONG = "E" * 300 + "\nthe rest of it"


@pytest.fixture
async def history(db: Database) -> History:
    h = History(db)
    for name in ("w", "even", "flaky", "idle"):
        await h.workflow(name)
    # Outside the window: one microsecond before its start, and a month old (still running).
    await h.run("old", "w", WEEK.since - timedelta(microseconds=1), "failed", 1000,
                (("fit", 1, "failed", 3, "OldError: gone"),))  # fmt: skip
    await h.run("ancient", "w", at(1, 9) - timedelta(days=30), "running")
    # Workflow w, in the window. Runs that finished with times: 10, 20, 40, 30, 100 s.
    await h.run("r1", "w", WEEK.since, "succeeded", 10,  # exactly at the window's start
                (("load", 1, "succeeded", 2, None), ("fit", 1, "succeeded", 5, None)))  # fmt: skip
    await h.run("r3", "w", at(5, 10), "succeeded", 20, (
        ("load", 1, "up_for_retry", 1, "ConnectionError: reset\n  at line 3"),
        ("load", 2, "succeeded", 3, None),
        ("fit", 1, "succeeded", 7, None),
    ))  # fmt: skip
    await h.run("r4", "w", at(5, 11), "failed", 40, (
        ("load", 1, "succeeded", 4, None),
        ("fit", 1, "up_for_retry", 10, "  ValueError: bad lr  \r\nTraceback ..."),
        ("fit", 2, "failed", 12, "ValueError: bad lr"),
        ("check", 1, "failed", None, None),  # no message, never timed
    ))  # fmt: skip
    await h.run("r5", "w", at(8, 9), "succeeded", 30, (
        ("load", 1, "succeeded", 6, None),
        ("fit", 1, "succeeded", 9, None),
        ("check", 1, "failed", None, LONG),
    ))  # fmt: skip
    await h.run(
        "r6",
        "w",
        at(10, 14),
        "cancelled",
        None,  # cancelled while queued: no times
        (("load", 1, "cancelled", None, None), ("fit", 1, "cancelled", None, None)),
    )
    await h.run(
        "r7",
        "w",
        at(10, 14, 30),
        "running",
        None,
        (("load", 1, "succeeded", 5, None), ("fit", 1, "running", None, None)),
    )
    await h.run("r8", "w", at(10, 14, 50), "queued", None, (("load", 1, "queued", None, None),))
    await h.run("r9", "w", at(9, 8), "succeeded", 100, (
        ("load", 1, "up_for_retry", 1, "ConnectionError: reset"),
        ("load", 2, "succeeded", 8, None),
        ("fit", 1, "succeeded", 11, None),
    ))  # fmt: skip
    # Workflow even: four runs of 1, 2, 3 and 4 s. Workflow flaky: two failures, untimed.
    for n in range(1, 5):
        await h.run(f"e{n}", "even", at(6, n), "succeeded", n)
    await h.run("f1", "flaky", at(7, 1), "failed")
    await h.run("f2", "flaky", at(7, 2), "failed")
    return h


async def stats_of(db: Database, workflow_id: int, window: Window = WEEK) -> dict[str, Any]:
    async with db.read() as session:
        return await workflow_stats(session, workflow_id, window)


async def test_a_workflows_runs_by_status_success_rate_and_duration_percentiles(
    db: Database, history: History
) -> None:
    runs = (await stats_of(db, history.workflows["w"]))["runs"]
    # r1 r3 r4 r5 r6 r7 r8 r9: "old" is 1 µs too early, "ancient" a month too early.
    assert runs["total"] == 8
    assert runs["by_status"] == counts(succeeded=4, failed=1, cancelled=1, running=1, queued=1)
    assert runs["finished"] == 6
    assert runs["success_rate"] == round(4 / 6, 4)
    # 10 20 30 40 100 (odd count): p50 is the middle one; p95 at rank 0.95*4 = 3.8,
    # 80% of the way from 40 to 100.
    assert runs["duration"] == {"p50": 30.0, "p95": 88.0}


async def test_percentiles_of_an_even_count_interpolate(db: Database, history: History) -> None:
    runs = (await stats_of(db, history.workflows["even"]))["runs"]
    # 1 2 3 4: p50 halfway from 2 to 3; p95 at rank 2.85, 85% of the way from 3 to 4.
    assert runs["duration"] == {"p50": 2.5, "p95": 3.85}
    assert runs["success_rate"] == 1.0


async def test_per_task_attempts_success_rate_retries_and_durations(
    db: Database, history: History
) -> None:
    tasks = (await stats_of(db, history.workflows["w"]))["tasks"]
    assert [t["task_key"] for t in tasks] == ["check", "fit", "load"]
    check, fit, load = tasks
    # check: two failures, neither timed.
    assert check == {"task_key": "check", "attempts": 2, "succeeded": 0, "success_rate": 0.0,
                     "retries": 0, "duration": {"p50": None, "p95": None}}  # fmt: skip
    # fit: r1 r3 r4a1 r4a2 r5 r6 r7 r9 = 8 attempts; ended: 4 succeeded + up_for_retry + failed.
    # Ran 5 7 10 12 9 11 -> 5 7 9 10 11 12: p50 = 9.5, p95 at rank 4.75 = 11.75.
    assert fit == {"task_key": "fit", "attempts": 8, "succeeded": 4, "success_rate": 0.6667,
                   "retries": 1, "duration": {"p50": 9.5, "p95": 11.75}}  # fmt: skip
    # load: r1 r3a1 r3a2 r4 r5 r6 r7 r8 r9a1 r9a2 = 10; ended: 6 succeeded + 2 up_for_retry.
    # Ran 2 1 3 4 6 5 1 8 -> 1 1 2 3 4 5 6 8: p50 = 3.5, p95 at rank 6.65 = 6 + 0.65 * 2.
    assert load == {"task_key": "load", "attempts": 10, "succeeded": 6, "success_rate": 0.75,
                    "retries": 2, "duration": {"p50": 3.5, "p95": 7.3}}  # fmt: skip


async def test_failures_are_grouped_by_the_first_line_of_their_error(
    db: Database, history: History
) -> None:
    failures = (await stats_of(db, history.workflows["w"]))["failures"]
    ids = history.ids
    # Two of each of the first two (ties: the newer latest run first), then one of each.
    # "OldError" is outside the window.
    assert failures == [
        {"error": "ConnectionError: reset", "count": 2, "latest_run_id": ids["r9"]},
        {"error": "ValueError: bad lr", "count": 2, "latest_run_id": ids["r4"]},
        {"error": "E" * 200, "count": 1, "latest_run_id": ids["r5"]},
        {"error": "", "count": 1, "latest_run_id": ids["r4"]},
    ]


async def test_runs_per_day_cover_every_day_of_the_window(db: Database, history: History) -> None:
    per_day = (await stats_of(db, history.workflows["w"]))["per_day"]
    assert [d["date"] for d in per_day] == DATES
    by_date = {d["date"]: d["by_status"] for d in per_day}
    assert by_date == {
        "2026-03-04": counts(succeeded=1),  # r1, at 00:00:00 exactly
        "2026-03-05": counts(succeeded=1, failed=1),
        "2026-03-06": counts(),
        "2026-03-07": counts(),
        "2026-03-08": counts(succeeded=1),
        "2026-03-09": counts(succeeded=1),
        "2026-03-10": counts(cancelled=1, running=1, queued=1),
    }
    assert [d["total"] for d in per_day] == [1, 2, 0, 0, 1, 1, 3]


async def test_a_shorter_window_leaves_older_runs_out(db: Database, history: History) -> None:
    two_days = Window.ending(2, NOW)  # 2026-03-09 and 2026-03-10
    figures = await stats_of(db, history.workflows["w"], two_days)
    assert figures["runs"]["by_status"] == counts(succeeded=1, cancelled=1, running=1, queued=1)
    assert figures["runs"]["duration"] == {"p50": 100.0, "p95": 100.0}  # r9 alone
    assert [d["date"] for d in figures["per_day"]] == ["2026-03-09", "2026-03-10"]


async def test_a_workflow_with_no_runs_gives_zeros_and_nulls(
    db: Database, history: History
) -> None:
    figures = await stats_of(db, history.workflows["idle"])
    nothing = {"p50": None, "p95": None}
    assert figures["runs"] == {"total": 0, "by_status": counts(), "finished": 0,
                               "success_rate": None, "duration": nothing}  # fmt: skip
    assert figures["tasks"] == [] and figures["failures"] == []
    assert [d["total"] for d in figures["per_day"]] == [0] * 7


async def test_the_whole_instance(db: Database, history: History) -> None:
    async with db.read() as session:
        figures = await instance_stats(session, WEEK)
    runs = figures["runs"]
    # w's 8, even's 4, flaky's 2.
    assert runs["total"] == 14
    assert runs["by_status"] == counts(succeeded=8, failed=3, cancelled=1, running=1, queued=1)
    assert runs["success_rate"] == round(8 / 12, 4)
    # 1 2 3 4 10 20 30 40 100: p50 = 10; p95 at rank 7.6 = 40 + 0.6 * 60.
    assert runs["duration"] == {"p50": 10.0, "p95": 76.0}
    # Now, whenever created: r8 queued; r7 and "ancient" running; r8's load queued, r7's fit
    # running.
    assert figures["active"] == {"queued_runs": 1, "running_runs": 2,
                                 "queued_attempts": 1, "running_attempts": 1}  # fmt: skip
    assert figures["failing_workflows"] == [
        {"workflow_id": history.workflows["flaky"], "name": "flaky", "failed": 2, "runs": 2,
         "success_rate": 0.0},
        {"workflow_id": history.workflows["w"], "name": "w", "failed": 1, "runs": 8,
         "success_rate": 0.6667},
    ]  # fmt: skip
    assert [d["total"] for d in figures["per_day"]] == [1, 2, 4, 2, 1, 1, 3]
    assert figures["per_day"][3]["by_status"] == counts(failed=2)


def test_the_window_is_whole_utc_days_ending_today() -> None:
    late = datetime(2026, 3, 10, 23, 59, tzinfo=UTC)
    assert Window.ending(1, late).since == datetime(2026, 3, 10, tzinfo=UTC)
    assert Window.ending(1, late).dates() == ["2026-03-10"]
    assert Window.ending(7, NOW).dates() == DATES


async def test_only_the_ten_largest_failure_groups_are_given(db: Database) -> None:
    h = History(db)
    wf = await h.workflow("many")
    for n in range(12):  # twelve errors once each, then "Boom" three times
        await h.run(f"m{n}", "many", at(9, 1, n), "failed", 1,
                    (("t", 1, "failed", 1, f"Error{n}: once"),))  # fmt: skip
    for n in range(3):
        await h.run(f"b{n}", "many", at(9, 2, n), "failed", 1, (("t", 1, "failed", 1, "Boom"),))
    failures = (await stats_of(db, wf))["failures"]
    # Boom first (3), then the newest nine of the twelve singles (ties: newest latest run).
    assert [f["error"] for f in failures] == ["Boom"] + [
        f"Error{n}: once" for n in range(11, 2, -1)
    ]
    assert failures[0] == {"error": "Boom", "count": 3, "latest_run_id": h.ids["b2"]}
