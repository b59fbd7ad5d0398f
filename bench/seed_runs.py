"""Fill a database with history: users, workflows and `runs` runs with their attempts.

    .venv/bin/python bench/seed_runs.py --database-url URL --runs 1000000 [--workflows 50]
                                        [--days 90]

Migrates the database, creates users (`admin` and `user01`..`user16`, all with the password
SEED_PASSWORD) and `workflows` workflows through the workflow store (validated specs, a
version each, audited), then bulk-inserts runs spread evenly over the last `days` days, oldest
first, so ids grow with time as they do in a real instance:

- statuses: ~90% succeeded, ~7% failed, ~3% cancelled; the newest few are queued or running;
- 3 task attempts per run (prepare -> train -> evaluate) with times, exit codes, errors;
- metrics (loss per step, accuracy) for one run in METRICS_EVERY, log chunks (database log
  store) for one in LOGS_EVERY, and outbox events (already published) for the newest runs.

Runs go in with plain driver calls, not the ORM: sqlite3 executemany with the load PRAGMAs on
SQLite, COPY (asyncpg copy_records_to_table) on PostgreSQL. Ids are given explicitly and
continue after the ones in the database; the PostgreSQL sequences are moved past them (SQLite's
AUTOINCREMENT counter follows explicit ids on its own). Seeding a database twice adds to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from plait.auth.passwords import hash_password
from plait.auth.roles import Principal, Role
from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import Event, LogChunk, Metric, Run, TaskAttempt, User, Workflow
from plait.workflows import store
from plait.workflows.spec import WorkflowSpec

SEED_PASSWORD = "seed-password-1"
USERS = 16
BATCH = 20_000  # runs per insert round (3x as many attempts)
METRICS_EVERY = 10  # one run in 10 logs metrics
LOGS_EVERY = 50  # one run in 50 keeps its logs in the database
EVENTS_LAST = 5_000  # the newest runs have their outbox events
ACTIVE = 6  # the newest runs: half queued, half running
TASKS = ("prepare", "train", "evaluate")
TRIGGERS = ("schedule",) * 6 + ("manual",) * 2 + ("api", "webhook")
ERRORS = (
    "ValueError: loss is NaN",
    "RuntimeError: CUDA out of memory",
    "exit code 137 (killed: out of memory)",
    "TimeoutError: task exceeded its timeout of 3600 s",
    "FileNotFoundError: data/train.parquet",
)

RUN_COLUMNS = ("id", "workflow_id", "workflow_version", "params", "status", "trigger",
               "triggered_by", "description", "pinned", "created_at", "started_at",
               "finished_at")  # fmt: skip
ATTEMPT_COLUMNS = ("id", "run_id", "task_key", "attempt", "status", "created_at", "queued_at",
                   "started_at", "finished_at", "worker", "pid", "exit_code", "error",
                   "outputs")  # fmt: skip
METRIC_COLUMNS = ("id", "run_id", "task_key", "attempt", "key", "value", "step", "created_at")
LOG_COLUMNS = ("id", "run_id", "task_key", "attempt", "start", "data")
EVENT_COLUMNS = ("id", "created_at", "type", "workflow_id", "run_id", "user_id", "data",
                 "published_at")  # fmt: skip
SEQUENCED = ("runs", "task_attempts", "metrics", "log_chunks", "events")


def workflow_spec(n: int) -> WorkflowSpec:
    """A small training pipeline, different enough per workflow to look real."""
    return WorkflowSpec.model_validate(
        {
            "name": f"train-model-{n:03d}",
            "description": f"Nightly training of model family {n}: prepare, train, evaluate.",
            "tags": ["seed", ("vision", "nlp", "tabular")[n % 3]],
            "params": {
                "lr": {"type": "number", "default": 0.01, "minimum": 0},
                "epochs": {"type": "integer", "default": 10, "minimum": 1},
            },
            "max_active_runs": 4,
            "tasks": [
                {"key": "prepare", "kind": "python",
                 "code": "import plait\nplait.set_output('rows', 1000)\n"},
                {"key": "train", "kind": "python", "depends_on": ["prepare"],
                 "code": "import plait\nplait.log_metric('loss', 0.5)\n"},
                {"key": "evaluate", "kind": "shell", "depends_on": ["train"],
                 "command": "echo evaluated"},
            ],
        }
    )  # fmt: skip


@dataclass(frozen=True)
class Start:
    """The first id of each table to use, and the ids of the users and workflows made."""

    run: int
    attempt: int
    metric: int
    log: int
    event: int
    users: list[int]
    workflows: list[int]


async def seed(database_url: str, runs: int, *, workflows: int = 50, days: int = 90) -> None:
    """Migrate `database_url`, add users and workflows, then `runs` runs over `days` days."""
    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        users = await _users(db)
        made = await _workflows(db, users[0], workflows)
        start = await _start(db, users, made)
    finally:
        await db.dispose()
    rows = Rows(start, runs, days, random.Random(runs))
    if db.dialect == "sqlite":
        path = make_url(database_url).database
        assert path, "seeding needs a SQLite file"
        await asyncio.to_thread(_load_sqlite, path, rows)
    else:
        await _load_postgresql(database_url, rows)


async def _users(db: Database) -> list[int]:
    """`admin` and user01..user16 (editors), made once; their ids, admin first."""
    names = ["admin", *(f"user{i:02d}" for i in range(1, USERS + 1))]
    async with db.write() as session:
        have = {u.username: u.id for u in await session.scalars(select(User))}
        missing = [n for n in names if n not in have]
        if missing:
            hashed = hash_password(SEED_PASSWORD)  # argon2 once: the same password for all
            for name in missing:
                role = Role.admin if name == "admin" else Role.editor
                session.add(User(username=name, password_hash=hashed, role=role))
            await session.flush()
            have = {u.username: u.id for u in await session.scalars(select(User))}
    return [have[n] for n in names]


async def _workflows(db: Database, admin_id: int, count: int) -> list[int]:
    """The seed's workflows, created through the store when missing; their ids."""
    who = Principal(id=admin_id, username="admin", role=Role.admin)
    async with db.write() as session:
        for n in range(1, count + 1):
            spec = workflow_spec(n)
            found = await session.scalar(select(Workflow.id).where(Workflow.name == spec.name))
            if found is None:
                await store.create(session, who, spec, message="seeded")
        names = [workflow_spec(n).name for n in range(1, count + 1)]
        found_ids = await session.scalars(
            select(Workflow.id).where(Workflow.name.in_(names)).order_by(Workflow.id)
        )
        return list(found_ids)


async def _start(db: Database, users: list[int], workflows: list[int]) -> Start:
    async def next_id(session: AsyncSession, model: Any) -> int:
        return (await session.scalar(select(func.max(model.id))) or 0) + 1

    async with db.read() as s:
        return Start(run=await next_id(s, Run), attempt=await next_id(s, TaskAttempt),
                     metric=await next_id(s, Metric), log=await next_id(s, LogChunk),
                     event=await next_id(s, Event), users=users, workflows=workflows)  # fmt: skip


class Rows:
    """The rows to insert, batch by batch, as tuples in the *_COLUMNS orders. Datetimes are
    aware (UTC); JSON columns are text."""

    def __init__(self, start: Start, runs: int, days: int, rng: random.Random) -> None:
        self.start, self.runs, self.rng = start, runs, rng
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        self.first = self.now - timedelta(days=days)
        self.step = (self.now - self.first) / max(runs, 1)
        self.attempt_id, self.metric_id = start.attempt, start.metric
        self.log_id, self.event_id = start.log, start.event

    def batches(self) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
        for first in range(0, self.runs, BATCH):
            out: dict[str, list[tuple[Any, ...]]] = {
                "runs": [], "task_attempts": [], "metrics": [], "log_chunks": [], "events": []
            }  # fmt: skip
            for i in range(first, min(first + BATCH, self.runs)):
                self._run(i, out)
            yield out

    def _status(self, i: int) -> str:
        left = self.runs - i
        if left <= ACTIVE:
            return "queued" if left <= ACTIVE // 2 else "running"
        roll = self.rng.random()
        return "succeeded" if roll < 0.90 else "failed" if roll < 0.97 else "cancelled"

    def _run(self, i: int, out: dict[str, list[tuple[Any, ...]]]) -> None:
        rng = self.rng
        run_id = self.start.run + i
        workflow_id = rng.choice(self.start.workflows)
        created = self.first + self.step * i + timedelta(microseconds=rng.randrange(1, 999_999))
        status = self._status(i)
        trigger = rng.choice(TRIGGERS)
        user = None if trigger in ("schedule", "webhook") else rng.choice(self.start.users)
        params = json.dumps({"lr": rng.choice((0.1, 0.01, 0.001)), "epochs": rng.randint(5, 50)})
        times = self._attempts(run_id, created, status, out["task_attempts"])
        started = times[0][0] if times else None
        finished = times[-1][1] if status in ("succeeded", "failed", "cancelled") else None
        out["runs"].append((run_id, workflow_id, 1, params, status, trigger, user, "",
                            rng.random() < 0.001, created, started, finished))  # fmt: skip
        if i % METRICS_EVERY == 0 and status == "succeeded":
            self._metrics(run_id, times[1][1], out["metrics"])
        if i % LOGS_EVERY == 0:
            self._logs(run_id, status, out["log_chunks"])
        if self.runs - i <= EVENTS_LAST:
            self._events(run_id, workflow_id, status, created, finished, out["events"])

    def _attempts(
        self, run_id: int, created: datetime, status: str, out: list[tuple[Any, ...]]
    ) -> list[tuple[datetime, datetime | None]]:
        """The run's three attempts; returns (started, finished) of each one that started."""
        rng, at, times = self.rng, created, []
        states = _attempt_states(status)
        for key, state in zip(TASKS, states, strict=True):
            queued = at + timedelta(milliseconds=rng.randint(5, 200))
            ran = state not in ("pending", "queued", "upstream_failed")
            started = queued + timedelta(milliseconds=rng.randint(50, 900)) if ran else None
            done = state in ("succeeded", "failed", "cancelled", "upstream_failed")
            length = timedelta(seconds=rng.uniform(1, 600 if key == "train" else 30))
            finished = (started or queued) + length if done else None
            error = rng.choice(ERRORS) if state == "failed" else None
            exit_code = {"succeeded": 0, "failed": 1, "cancelled": -15}.get(state)
            outputs = '{"rows": 1000}' if key == "prepare" and state == "succeeded" else "{}"
            worker = f"worker-{rng.randint(1, 8)}:{rng.randint(1000, 60000)}" if ran else None
            out.append((self.attempt_id, run_id, key, 1, state, created,
                        queued if state != "pending" else None, started, finished, worker,
                        None, exit_code, error, outputs))  # fmt: skip
            self.attempt_id += 1
            if started is not None:
                times.append((started, finished))
            at = finished or queued
        return times

    def _metrics(self, run_id: int, at: datetime | None, out: list[tuple[Any, ...]]) -> None:
        at = at or self.now
        loss = self.rng.uniform(0.5, 1.5)
        for step in range(4):
            loss *= self.rng.uniform(0.6, 0.95)
            out.append((self.metric_id, run_id, "train", 1, "loss", loss, step, at))
            self.metric_id += 1
        accuracy = self.rng.uniform(0.7, 0.99)
        out.append((self.metric_id, run_id, "evaluate", 1, "accuracy", accuracy, None, at))
        self.metric_id += 1

    def _logs(self, run_id: int, status: str, out: list[tuple[Any, ...]]) -> None:
        for key in TASKS[: 1 if status in ("queued", "running") else 3]:
            data = "".join(f"{key}: step {n} ok\n" for n in range(20)).encode()
            out.append((self.log_id, run_id, key, 1, 0, data))
            self.log_id += 1

    def _events(
        self,
        run_id: int,
        workflow_id: int,
        status: str,
        created: datetime,
        finished: datetime | None,
        out: list[tuple[Any, ...]],
    ) -> None:
        happened = [("run.queued", created, "queued")]
        if finished is not None:
            happened.append((f"run.{status}", finished, status))
        for kind, at, state in happened:
            data = json.dumps({"status": state})
            out.append((self.event_id, at, kind, workflow_id, run_id, None, data, at))
            self.event_id += 1


def _attempt_states(status: str) -> tuple[str, str, str]:
    return {
        "succeeded": ("succeeded", "succeeded", "succeeded"),
        "failed": ("succeeded", "failed", "upstream_failed"),
        "cancelled": ("succeeded", "cancelled", "cancelled"),
        "running": ("succeeded", "running", "pending"),
        "queued": ("queued", "pending", "pending"),
    }[status]


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite_value(value: Any) -> Any:
    """As SQLAlchemy stores it on SQLite: naive UTC text with microseconds."""
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"
    return value


def _load_sqlite(path: str, rows: Rows) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # For the load only: nothing else uses the file meanwhile, a crash means seeding again.
        for pragma in ("synchronous=OFF", "cache_size=-400000", "temp_store=MEMORY"):
            conn.execute(f"PRAGMA {pragma}")
        columns = {"runs": RUN_COLUMNS, "task_attempts": ATTEMPT_COLUMNS,
                   "metrics": METRIC_COLUMNS, "log_chunks": LOG_COLUMNS,
                   "events": EVENT_COLUMNS}  # fmt: skip
        for batch in rows.batches():
            conn.execute("BEGIN")
            for table, values in batch.items():
                if values:
                    conn.executemany(
                        _insert_sql(table, columns[table]),
                        ([_sqlite_value(v) for v in row] for row in values),
                    )
            conn.execute("COMMIT")
        conn.execute("ANALYZE")  # the planner's statistics, as `plait` would have them
    finally:
        conn.close()


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" for _ in columns)
    # Table and column names are this module's constants, never input.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


# --- PostgreSQL ------------------------------------------------------------------------------


async def _load_postgresql(database_url: str, rows: Rows) -> None:
    url = make_url(database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        columns = {"runs": RUN_COLUMNS, "task_attempts": ATTEMPT_COLUMNS,
                   "metrics": METRIC_COLUMNS, "log_chunks": LOG_COLUMNS,
                   "events": EVENT_COLUMNS}  # fmt: skip
        for batch in rows.batches():
            async with conn.transaction():
                for table, values in batch.items():
                    if values:
                        await conn.copy_records_to_table(
                            table, records=values, columns=list(columns[table])
                        )
        for table in SEQUENCED:  # explicit ids do not move the sequences (names: constants)
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        # The planner's statistics, and the visibility map autovacuum would set in time:
        # without it an index-only scan still visits every table row.
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a SQLAlchemy async URL")
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args(argv)
    started = time.monotonic()
    asyncio.run(seed(args.database_url, args.runs, workflows=args.workflows, days=args.days))
    print(f"seeded {args.runs} runs in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
