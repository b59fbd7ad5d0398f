"""Benchmark `GET /api/v1/runs/compare` over long metric series, on SQLite and PostgreSQL.

For each database: a fresh database, migrated, with `--runs` finished runs of one workflow,
each with `--keys` metric keys of `--points` points (bulk-inserted, as a task logging them
would leave them). Then the app (in this process, through httpx's ASGI transport: no
network, no server process) answers the comparison of all the runs `--repeat` times; the
script prints the median and the slowest time, the size of the answer and the points it
holds, beside the size of what the runs' `/metrics` (every point) would have sent.

    .venv/bin/python bench/compare.py [--db sqlite|postgresql|both] [--runs 10]
        [--keys 2] [--points 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from _server import BenchError, guarded, print_footer, print_header
from plait.api.app import create_app
from plait.auth.identity import principal
from plait.auth.tokens import issue_access_token
from plait.db.engine import Database
from plait.db.models import Metric, Run, User
from plait.settings import Settings
from plait.workflows import store
from plait.workflows.spec import TaskSpec, WorkflowSpec

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-signing-key-" + "x" * 32
BATCH = 5000  # rows per INSERT (under SQLite's bind limit: 8 columns x 5000 < 250,000)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=10, help="runs compared (2 to 10)")
    parser.add_argument("--keys", type=int, default=2, help="metric keys per run")
    parser.add_argument("--points", type=int, default=100_000, help="points per series")
    parser.add_argument("--repeat", type=int, default=5, help="comparisons timed")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    args = parser.parse_args(argv)
    if not 2 <= args.runs <= 10:
        parser.error("--runs takes 2 to 10")
    return args


@asynccontextmanager
async def database(kind: str, admin_url: str) -> AsyncIterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="plait-bench-") as tmp:
        if kind == "sqlite":
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'plait.db'}", Path(tmp)
            return
        name = f"plait_bench_compare_{os.getpid()}"
        await _pg_admin(admin_url, f'CREATE DATABASE "{name}"')
        try:
            url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
            yield url.render_as_string(hide_password=False), Path(tmp)
        finally:
            await _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _pg_admin(admin_url: str, statement: str) -> None:
    try:
        conn = await asyncpg.connect(admin_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"cannot connect to PostgreSQL at {admin_url}: {exc}") from exc
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def seed(db: Database, opts: argparse.Namespace) -> list[int]:
    """A workflow and its finished runs, each with `keys` series of `points` points."""
    async with db.write() as session:
        admin = (await session.execute(select(User))).scalars().one()  # the bootstrapped one
        spec = WorkflowSpec(name="train", tasks=[TaskSpec(key="fit", kind="shell", command="true")])
        wf = await store.create(session, principal(admin), spec)
        runs = [Run(workflow_id=wf.id, workflow_version=1, params={"lr": i / 100, "seed": 7},
                    status="succeeded", trigger="api", triggered_by=admin.id,
                    started_at=T0, finished_at=T0 + timedelta(hours=1))
                for i in range(opts.runs)]  # fmt: skip
        session.add_all(runs)
        await session.flush()
        run_ids = [run.id for run in runs]
    for run_id in run_ids:
        for k in range(opts.keys):
            rows = [{"run_id": run_id, "task_key": "fit", "attempt": 1, "key": f"metric_{k}",
                     "value": 1 / (step + 1) + (step % 97) / 1000, "step": step,
                     "created_at": T0 + timedelta(milliseconds=step)}
                    for step in range(opts.points)]  # fmt: skip
            async with db.write() as session:
                for start in range(0, len(rows), BATCH):
                    await session.execute(insert(Metric), rows[start : start + BATCH])
    return run_ids


async def bench(kind: str, opts: argparse.Namespace) -> None:
    async with database(kind, opts.pg_admin_url) as (url, tmp):
        settings = Settings(data_dir=tmp / "data", database_url=url, secret_key=SECRET,
                            scheduler=False, load_demo=False,
                            admin_password="bench-password-1")  # fmt: skip
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            db: Database = app.state.plait.db
            began = time.monotonic()
            run_ids = await seed(db, opts)
            seeded = time.monotonic() - began
            async with db.read() as session:
                admin = (await session.execute(select(User))).scalars().one()
            token, _ = issue_access_token(admin, SECRET, 60)
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://b", headers=headers,
                                         timeout=600) as client:  # fmt: skip
                await report(kind, client, run_ids, opts, seeded)


async def report(
    kind: str,
    client: httpx.AsyncClient,
    run_ids: list[int],
    opts: argparse.Namespace,
    seeded: float,
) -> None:
    path = f"/api/v1/runs/compare?ids={','.join(map(str, run_ids))}"
    times, size, sent = [], 0, 0
    for _ in range(opts.repeat + 1):  # the first one warms up
        began = time.perf_counter()
        response = await client.get(path)
        times.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise BenchError(f"{path}: {response.status_code} {response.text[:300]}")
        body = response.json()
        size = len(response.content)
        sent = sum(len(r["series"]) for m in body["metrics"] for r in m["runs"].values())
    whole = await client.get(f"/api/v1/runs/{run_ids[0]}/metrics")
    stored = opts.runs * opts.keys * opts.points
    print(f"\n{kind}: {opts.runs} runs x {opts.keys} keys x {opts.points:,} points = "
          f"{stored:,} points stored (seeded in {seeded:.1f} s)")  # fmt: skip
    median, slowest = statistics.median(times[1:]) * 1000, max(times[1:]) * 1000
    print(f"  compare: median {median:.0f} ms, slowest {slowest:.0f} ms over {opts.repeat} "
          f"(warm-up {times[0] * 1000:.0f} ms)")  # fmt: skip
    print(f"  answer: {size / 1024:.0f} KiB, {sent:,} points "
          f"({sent // (opts.runs * opts.keys)} per series)")  # fmt: skip
    print(f"  for contrast, one run's /metrics (every point): "
          f"{len(whole.content) / 1024 / 1024:.1f} MiB")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = print_header("in-process app (httpx ASGI transport)")
    kinds = ["sqlite", "postgresql"] if opts.db == "both" else [opts.db]

    def work() -> int:
        for kind in kinds:
            asyncio.run(bench(kind, opts))
        print_footer(started)
        return 0

    return int(guarded(work))


if __name__ == "__main__":
    sys.exit(main())
