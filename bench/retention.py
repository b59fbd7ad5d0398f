"""The retention job on a big database: how long a pass takes, and what it costs other writers.

Fills a migrated database with `--runs` runs spread over `--days` days (`seed_runs.seed`: 3
attempts each, log chunks, metrics, events), then runs one retention pass with
PLAIT_RETENTION_DAYS=`--retention-days`, while a writer in another process keeps creating
runs (a run and 3 attempts per transaction, as an API server does). Prints the pass's total
time, runs removed per second, each batch transaction's time (p50/p99/max), and the writer's
latency (p50/p99/max) before the pass and during it: what the pass's locks cost.

    .venv/bin/python bench/retention.py --runs 20000                       # SQLite, temporary
    .venv/bin/python bench/retention.py --database-url postgresql+asyncpg://postgres@127.0.0.1/big

With --no-seed the database is used as it is (seeded before; note that a pass empties what it
removed, so seed again for another measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from _server import BenchError, guarded, print_footer, print_header
from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import Run, TaskAttempt, Workflow
from plait.orchestration.retention import run_pass
from plait.settings import Settings

BEFORE_SECONDS = 5.0  # the writer's baseline, measured before the pass starts


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: list[float]) -> str:
    """p50 / p99 / max, in milliseconds."""
    ms = [v * 1000 for v in values]
    return (f"p50 {percentile(ms, 0.5):7.1f} ms  p99 {percentile(ms, 0.99):7.1f} ms  "
            f"max {max(ms, default=float('nan')):7.1f} ms  ({len(ms)} samples)")  # fmt: skip


# --- the concurrent writer (another process, like an API server) --------------------------


def writer(url: str, workflow_id: int, ready: Any, stop: Any, out: Any) -> None:
    """Create runs until `stop` is set (`ready` once the first is made); send
    [(when it started, seconds it took)]."""
    out.put(asyncio.run(_write_loop(url, workflow_id, ready, stop)))


async def _write_loop(
    url: str, workflow_id: int, ready: Any, stop: Any
) -> list[tuple[float, float]]:
    db = Database(url)
    samples: list[tuple[float, float]] = []
    try:
        while not stop.is_set():
            started = time.monotonic()
            async with db.write(notify=False) as session:
                run = Run(workflow_id=workflow_id, workflow_version=1, params={},
                          status="queued", trigger="api")  # fmt: skip
                session.add(run)
                await session.flush()
                session.add_all(
                    TaskAttempt(run_id=run.id, task_key=f"t{i}", attempt=1, status="pending",
                                outputs={})
                    for i in range(3)
                )  # fmt: skip
            samples.append((started, time.monotonic() - started))
            ready.set()
            await asyncio.sleep(0.01)  # ~ a busy API: dozens of new runs a second
    finally:
        await db.dispose()
    return samples


# --- the measurement ----------------------------------------------------------------------


async def prepare(url: str, runs: int, workflows: int, days: int, fill: bool) -> int:
    """Migrate (and seed); the id of a workflow for the writer's runs."""
    db = Database(url)
    try:
        await migrate.upgrade(db)
        if fill:
            # The sibling script (bench/ is on the path of `python bench/x.py`).
            from seed_runs import seed  # type: ignore[import-not-found, unused-ignore]

            started = time.monotonic()
            await seed(url, runs, workflows=workflows, days=days)
            print(f"seeded {runs:,} runs over {days} days in {time.monotonic() - started:.0f} s")
        async with db.read() as session:
            found = await session.scalar(select(func.min(Workflow.id)))
            total = await session.scalar(select(func.count()).select_from(Run))
        if found is None:
            raise BenchError("the database has no workflow: seed it (leave out --no-seed)")
        print(f"runs in the database: {total:,}")
        return int(found)
    finally:
        await db.dispose()


async def one_pass(url: str, data_dir: Path, retention_days: int, batch: int) -> Any:
    settings = Settings(data_dir=data_dir, database_url=url, retention_days=retention_days,
                        retention_batch_size=batch)  # fmt: skip
    db = Database(url)
    try:
        return await run_pass(db, settings, now=datetime.now(UTC))
    finally:
        await db.dispose()


def measure(args: argparse.Namespace, url: str, data_dir: Path) -> None:
    workflow_id = asyncio.run(prepare(url, args.runs, args.workflows, args.days, not args.no_seed))
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    probe = ctx.Process(target=writer, args=(url, workflow_id, ready, stop, out))
    probe.start()
    try:
        if not ready.wait(timeout=120):
            raise BenchError("the concurrent writer did not start")
        time.sleep(BEFORE_SECONDS)
        started = time.monotonic()
        tally = asyncio.run(one_pass(url, data_dir, args.retention_days, args.batch_size))
        ended = time.monotonic()
    finally:
        stop.set()
        samples: list[tuple[float, float]] = out.get(timeout=60)
        probe.join(timeout=30)
    took = ended - started
    print(f"\nretention pass (PLAIT_RETENTION_DAYS={args.retention_days}, "
          f"batch {args.batch_size}): {took:.1f} s")  # fmt: skip
    print(
        f"  removed: {tally.runs:,} runs, {tally.attempts:,} attempts, "
        f"{tally.log_chunks:,} log chunks, {tally.metrics:,} metrics, {tally.events:,} events"
    )
    print(f"  runs removed per second: {tally.runs / took if took else 0:,.0f}")
    print(f"  batch transactions ({len(tally.batches)}): {spread(tally.batches)}")
    before = [s for t, s in samples if t < started]
    during = [s for t, s in samples if started <= t < ended]
    print("\na concurrent writer (a run + 3 attempts per transaction, another process):")
    print(f"  before the pass: {spread(before)}")
    print(f"  during the pass: {spread(during)}")
    if before and during:
        ratio = statistics.median(during) / statistics.median(before)
        print(f"  median during / before: {ratio:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="Default: a temporary SQLite database.")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--days", type=int, default=90, help="The seeded runs span this.")
    parser.add_argument("--retention-days", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--no-seed", action="store_true", help="Use the database as it is.")
    args = parser.parse_args()
    started = print_header("retention pass with a concurrent writer")
    with tempfile.TemporaryDirectory(prefix="plait-bench-retention-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'plait.db'}"
        print(f"database: {url.split('://', 1)[0]}")
        code = guarded(lambda: measure(args, url, Path(tmp) / "data"))
    print_footer(started)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
