"""Benchmark `GET /api/v1/workflows?limit=50` with many workflows, on SQLite and PostgreSQL.

For each database: seed N workflows straight into a fresh database, start the real server
(`plait server`) on it, check one response by hand, warm up, then load it with `wrk` over
loopback several times and report the median p50, p99 and requests/s of those runs.

    .venv/bin/python bench/list_workflows.py [--db sqlite|postgresql|both] [--runs 3]
        [--duration 10] [--workflows 10000]

Exits 1 when any request failed (non-2xx/3xx answers or socket errors), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from _server import BenchError, guarded, login, print_footer, print_header, running_server
from plait.auth.passwords import hash_password
from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import User, Workflow, WorkflowTag, WorkflowVersion
from plait.workflows import store
from plait.workflows.spec import TaskSpec, WorkflowSpec
from plait.workflows.versions import content_hash

PATH = "/api/v1/workflows?limit=50"
PAGE = 50
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
WARMUP_SECONDS = 3
BATCH = 1000  # rows per INSERT: big enough to be fast, small enough for SQLite's bind limits
TEAMS = ("vision", "nlp", "ranking", "forecast", "fraud")
# Three in four workflows are scheduled, so the listing computes next_fire_time as it would
# on a real installation (croniter per row), in several timezones.
SCHEDULES: tuple[tuple[str | None, str], ...] = (
    ("@daily", "UTC"),
    ("*/15 * * * *", "Europe/Berlin"),
    ("0 6 * * 1-5", "America/New_York"),
    (None, "UTC"),
)


@dataclass(frozen=True)
class Options:
    databases: tuple[str, ...]
    runs: int
    duration: int
    workflows: int
    threads: int
    connections: int
    pg_admin_url: str


@dataclass(frozen=True)
class Target:
    """A fresh, empty database and the data directory the server uses with it."""

    name: str
    url: str
    data_dir: Path
    version: str


@dataclass(frozen=True)
class WrkResult:
    p50_ms: float
    p99_ms: float
    rps: float
    requests: int
    non_2xx: int
    socket_errors: int


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--runs", type=_positive, default=3, help="measured runs per database")
    parser.add_argument("--duration", type=_positive, default=10, help="seconds per run")
    parser.add_argument("--workflows", type=_positive, default=10_000, help="rows to seed")
    parser.add_argument("--threads", type=_positive, default=2, help="wrk threads")
    parser.add_argument("--connections", type=_positive, default=16, help="wrk connections")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL, help="where to CREATE DATABASE")
    args = parser.parse_args(argv)
    if args.duration > 120 or args.runs > 20 or args.workflows > 1_000_000:
        parser.error("keep it bounded: --duration <= 120, --runs <= 20, --workflows <= 1000000")
    databases = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    return Options(
        databases,
        args.runs,
        args.duration,
        args.workflows,
        args.threads,
        args.connections,
        args.pg_admin_url,
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# ---------------------------------------------------------------- databases


@contextmanager
def sqlite_target() -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="plait-bench-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'plait.db'}"
        yield Target("sqlite", url, Path(tmp), f"SQLite {sqlite3.sqlite_version}")


@contextmanager
def postgres_target(admin_url: str) -> Iterator[Target]:
    name = f"plait_bench_{os.getpid()}"
    version = asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
        with tempfile.TemporaryDirectory(prefix="plait-bench-") as tmp:
            # The data dir still matters on PostgreSQL: the server keeps its signing key there.
            yield Target(
                "postgresql", url.render_as_string(hide_password=False), Path(tmp), version
            )
    finally:
        # FORCE: a server that did not exit cleanly must not keep the database alive.
        asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_admin(admin_url: str, statement: str) -> str:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    try:
        conn = await asyncpg.connect(admin_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"cannot connect to PostgreSQL at {admin_url}: {exc}") from exc
    try:
        await conn.execute(statement)
        return f"PostgreSQL {await conn.fetchval('SHOW server_version')}"
    finally:
        await conn.close()


async def seed(url: str, count: int) -> str:
    """Migrate, add an admin and `count` workflows with their tags and versions.

    Rows go in with bulk INSERTs instead of through the API: 10,000 API calls would take
    minutes and measure the create path, not the listing. Returns the admin's password.
    """
    password = secrets.token_urlsafe(16)
    db = Database(url)
    try:
        await migrate.upgrade(db)
        async with db.writer.begin() as conn:
            admin_id = await _insert_admin(conn, password)
            for start in range(0, count, BATCH):
                await _insert_workflows(conn, admin_id, range(start, min(start + BATCH, count)))
    finally:
        await db.dispose()
    return password


async def _insert_admin(conn: AsyncConnection, password: str) -> int:
    now = datetime.now(UTC)
    row = {
        "username": "admin",
        "password_hash": hash_password(password),
        "role": "admin",
        "is_active": True,
        "created_at": now,
        "updated_at": now,
    }
    admin_id = await conn.scalar(insert(User).returning(User.id), row)
    assert isinstance(admin_id, int)
    return admin_id


def workflow_spec(i: int) -> dict[str, Any]:
    """A valid, canonical definition (as the API would store it) for workflow number i."""
    team = TEAMS[i % len(TEAMS)]
    schedule, timezone = SCHEDULES[i % len(SCHEDULES)]
    spec = WorkflowSpec(
        name=f"{team}-pipeline-{i:06d}",
        description=f"Benchmark workflow {i} of the {team} team.",
        tags=[team, f"tier-{i % 3}", "bench"],
        schedule=schedule,
        timezone=timezone,
        tasks=[
            TaskSpec(key="extract", kind="shell", command=f"echo extract {i}"),
            TaskSpec(key="train", kind="python", code="print('train')", depends_on=["extract"]),
        ],
    )
    return store.validate(spec)


async def _insert_workflows(conn: AsyncConnection, admin_id: int, numbers: range) -> None:
    now = datetime.now(UTC)
    specs = {n: workflow_spec(n) for n in numbers}
    rows = [_workflow_row(spec, admin_id, now - timedelta(minutes=n)) for n, spec in specs.items()]
    result = await conn.execute(insert(Workflow).returning(Workflow.id, Workflow.name), rows)
    ids = {name: wf_id for wf_id, name in result.all()}
    tags = [{"workflow_id": ids[s["name"]], "tag": t} for s in specs.values() for t in s["tags"]]
    await conn.execute(insert(WorkflowTag), tags)
    versions = [_version_row(ids[s["name"]], s, admin_id) for s in specs.values()]
    await conn.execute(insert(WorkflowVersion), versions)


def _workflow_row(spec: dict[str, Any], owner_id: int, when: datetime) -> dict[str, Any]:
    return {
        "name": spec["name"],
        "description": spec["description"],
        "tags": spec["tags"],
        "schedule": spec.get("schedule"),
        "timezone": spec["timezone"],
        "paused": spec["name"].endswith("0"),  # one in ten, so `paused` is not constant
        "owner_id": owner_id,
        "current_version": 1,
        "spec": spec,
        "created_at": when,
        "updated_at": when,
    }


def _version_row(workflow_id: int, spec: dict[str, Any], admin_id: int) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "version": 1,
        "spec": spec,
        "content_hash": content_hash(spec),
        "created_at": datetime.now(UTC),
        "created_by": admin_id,
        "message": "created",
        "source": None,
    }


# ---------------------------------------------------------------- server


def server_settings(target: Target, token_minutes: int) -> dict[str, str]:
    return {
        "PLAIT_DATA_DIR": str(target.data_dir),
        "PLAIT_DATABASE_URL": target.url,
        "PLAIT_LOAD_DEMO": "false",
        "PLAIT_LOG_LEVEL": "WARNING",
        # The token must outlive every run of this database, whatever --runs/--duration say.
        "PLAIT_ACCESS_TOKEN_MINUTES": str(token_minutes),
    }


def check_listing(base: str, token: str, workflows: int) -> None:
    """One page by hand before the load: a fast wrong answer must not pass as a result."""
    headers = {"Authorization": f"Bearer {token}"}
    first = _get_page(f"{base}{PATH}", headers)
    items, cursor = first["items"], first["next_cursor"]
    if len(items) != min(PAGE, workflows):
        raise BenchError(f"expected {min(PAGE, workflows)} items, got {len(items)}")
    if workflows > PAGE and not cursor:
        raise BenchError("expected a next_cursor: there are more workflows than one page")
    if workflows >= len(SCHEDULES) and not any(w["next_fire_time"] for w in items):
        raise BenchError("no item has a next_fire_time although most workflows are scheduled")
    if cursor:
        second = _get_page(f"{base}{PATH}&cursor={cursor}", headers)
        seen = {w["id"] for w in items}
        if any(w["id"] in seen for w in second["items"]):
            raise BenchError("the second page repeats items of the first")


def _get_page(url: str, headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.get(url, headers=headers, timeout=30)
    if response.status_code != 200:
        raise BenchError(f"GET {url}: {response.status_code} {response.text[:300]}")
    page: dict[str, Any] = response.json()
    return page


# ---------------------------------------------------------------- wrk


def wrk_command(base: str, token: str, seconds: int, opts: Options) -> list[str]:
    return [
        "wrk",
        f"-t{opts.threads}",
        f"-c{opts.connections}",
        f"-d{seconds}s",
        # Generous timeout: with wrk's default (2 s) slow requests would become socket
        # errors and vanish from the latency distribution, flattering p99.
        "--timeout",
        "30s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        f"{base}{PATH}",
    ]


def run_wrk(base: str, token: str, seconds: int, opts: Options) -> WrkResult:
    command = wrk_command(base, token, seconds, opts)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"wrk exited with {done.returncode}:\n{done.stderr}{done.stdout}")
    return parse_wrk(done.stdout)


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(output: str) -> WrkResult:
    """The figures of a `wrk --latency` report; the error lines appear only when non-zero."""
    percentiles = {int(p): float(v) * _UNIT_MS[u] for p, v, u in _PERCENTILE.findall(output)}
    rps, requests = _RPS.search(output), _REQUESTS.search(output)
    if 50 not in percentiles or 99 not in percentiles or rps is None or requests is None:
        raise BenchError(f"cannot read wrk's report:\n{output}")
    non_2xx = _NON_2XX.search(output)
    socket_errors = _SOCKET.search(output)
    return WrkResult(
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        rps=float(rps.group(1)),
        requests=int(requests.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
    )


def redacted(command: list[str]) -> str:
    return shlex.join(re.sub(r"Bearer \S+", "Bearer <token>", part) for part in command)


# ---------------------------------------------------------------- the benchmark


def bench_database(name: str, opts: Options) -> list[WrkResult]:
    target_cm = sqlite_target() if name == "sqlite" else postgres_target(opts.pg_admin_url)
    with target_cm as target:
        started = time.monotonic()
        password = asyncio.run(seed(target.url, opts.workflows))
        elapsed = time.monotonic() - started
        print(f"\n[{name}] {target.version}: seeded {opts.workflows} workflows in {elapsed:.1f} s")
        # Warm-up and runs, plus a margin for start-up and the check, in whole minutes.
        minutes = 5 + (WARMUP_SECONDS + opts.runs * opts.duration) // 60
        with running_server(target.data_dir, server_settings(target, minutes)) as server:
            return _load(name, server.base, login(server.base, password), opts)


def _load(name: str, base: str, token: str, opts: Options) -> list[WrkResult]:
    check_listing(base, token, opts.workflows)
    print(f"[{name}] response check passed; warm-up {WARMUP_SECONDS} s")
    # Warm-up: connection pools, SQLite page cache, Python's lazy imports; not recorded.
    run_wrk(base, token, WARMUP_SECONDS, opts)
    print(f"[{name}] {redacted(wrk_command(base, token, opts.duration, opts))}")
    return [_measured(name, i, base, token, opts) for i in range(1, opts.runs + 1)]


def _measured(name: str, i: int, base: str, token: str, opts: Options) -> WrkResult:
    result = run_wrk(base, token, opts.duration, opts)
    print(
        f"[{name}] run {i}: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"{result.rps:.1f} req/s, {result.requests} requests, "
        f"{result.non_2xx} non-2xx, {result.socket_errors} socket errors"
    )
    return result


def print_table(results: dict[str, list[WrkResult]], opts: Options) -> None:
    print(
        f"\nGET {PATH}  {opts.workflows} workflows  median of {opts.runs} runs of "
        f"{opts.duration} s  wrk -t{opts.threads} -c{opts.connections}"
    )
    print(
        f"{'database':<12}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{'non-2xx':>10}{'sock err':>10}"
    )
    for name, runs in results.items():
        print(
            f"{name:<12}"
            f"{statistics.median(r.p50_ms for r in runs):>10.2f}"
            f"{statistics.median(r.p99_ms for r in runs):>10.2f}"
            f"{statistics.median(r.rps for r in runs):>10.1f}"
            f"{sum(r.non_2xx for r in runs):>10}"
            f"{sum(r.socket_errors for r in runs):>10}"
        )
    print("(non-2xx and socket errors: totals over the runs)")


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found; install it (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    started = print_header(
        "shared by the server (one uvicorn process) and wrk on loopback: compare figures "
        "with each other, not with a real deployment"
    )
    results = guarded(lambda: {name: bench_database(name, opts) for name in opts.databases})
    if isinstance(results, int):
        return results
    print_table(results, opts)
    print_footer(started)
    failed = [r for runs in results.values() for r in runs if r.non_2xx or r.socket_errors]
    if failed:
        print(f"FAILED: {len(failed)} run(s) had failed requests", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
