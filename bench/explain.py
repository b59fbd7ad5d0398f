"""The plans of the hot queries on a seeded database (docs/performance.md shows them).

    .venv/bin/python bench/explain.py --database-url URL

SQLite: `EXPLAIN QUERY PLAN` and the time of one run of the query; PostgreSQL: `EXPLAIN
(ANALYZE, COSTS OFF)`. The SQL is what the routes send (echoed by SQLAlchemy), with the
bound values written in: ids and times that exist in a database seeded by seed_runs.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from collections.abc import Sequence

import asyncpg
from sqlalchemy.engine import make_url

QUERIES = {
    "GET /runs (newest)": "SELECT runs.id FROM runs JOIN workflows ON workflows.id = "
    "runs.workflow_id LEFT OUTER JOIN users ON users.id = runs.triggered_by "
    "ORDER BY runs.created_at DESC, runs.id DESC LIMIT 51",
    "GET /runs?status=queued (rare)": "SELECT runs.id FROM runs WHERE runs.status = 'queued' "
    "ORDER BY runs.created_at DESC, runs.id DESC LIMIT 51",
    "GET /runs?status=failed": "SELECT runs.id FROM runs WHERE runs.status = 'failed' "
    "ORDER BY runs.created_at DESC, runs.id DESC LIMIT 51",
    "GET /runs?trigger=backfill (none)": "SELECT runs.id FROM runs WHERE runs.trigger = "
    "'backfill' ORDER BY runs.created_at DESC, runs.id DESC LIMIT 51",
    "GET /runs?workflow=": "SELECT runs.id FROM runs WHERE runs.workflow_id = 7 "
    "ORDER BY runs.created_at DESC, runs.id DESC LIMIT 11",
    "GET /runs?workflow=&status=": "SELECT runs.id FROM runs WHERE runs.workflow_id = 7 AND "
    "runs.status = 'cancelled' ORDER BY runs.created_at DESC, runs.id DESC LIMIT 51",
    "GET /runs?cursor= (deep)": "SELECT runs.id FROM runs WHERE runs.created_at <= "
    "'2026-09-15 00:00:00' AND (runs.created_at < '2026-09-15 00:00:00' OR "
    "(runs.created_at = '2026-09-15 00:00:00' AND runs.id < 100000)) "
    "ORDER BY runs.created_at DESC, runs.id DESC LIMIT 51",
    "GET /workflows (last runs, 2 of 50 terms)": "SELECT * FROM (SELECT runs.workflow_id, "
    "runs.id, runs.status FROM runs WHERE runs.workflow_id = 1 ORDER BY runs.id DESC LIMIT 5) "
    "AS a UNION ALL SELECT * FROM (SELECT runs.workflow_id, runs.id, runs.status FROM runs "
    "WHERE runs.workflow_id = 2 ORDER BY runs.id DESC LIMIT 5) AS b",
    "GET /workflows/{ref}/grid": "SELECT runs.id FROM runs WHERE runs.workflow_id = 7 "
    "ORDER BY runs.id DESC LIMIT 25",
    "GET /runs/{id} (attempts)": "SELECT task_attempts.id FROM task_attempts "
    "WHERE task_attempts.run_id = 500000 ORDER BY task_attempts.attempt",
    "GET /runs/final-metrics": "SELECT metrics.run_id, metrics.key, metrics.value FROM metrics "
    "WHERE metrics.id IN (SELECT max(metrics.id) FROM metrics WHERE metrics.run_id IN "
    "(100001, 200001, 300001) GROUP BY metrics.run_id, metrics.key)",
    "GET /runs/compare (summaries)": "SELECT metrics.run_id, metrics.key, count(*), "
    "min(metrics.value), max(metrics.value), max(metrics.id) FROM metrics WHERE metrics.run_id "
    "IN (100001, 200001, 300001) GROUP BY metrics.run_id, metrics.key",
}


def explain_sqlite(path: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for name, sql in QUERIES.items():
            plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
            started = time.perf_counter()
            conn.execute(sql).fetchall()
            took = (time.perf_counter() - started) * 1000
            print(f"\n{name}: {took:.2f} ms")
            for _id, _parent, _unused, detail in plan:
                print(f"  {detail}")
    finally:
        conn.close()


async def explain_postgresql(database_url: str) -> None:
    url = make_url(database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        for name, sql in QUERIES.items():
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}")
            print(f"\n{name}:")
            for row in rows:
                print(f"  {row[0]}")
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)
    url = make_url(args.database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database, "a SQLite file"
        explain_sqlite(url.database)
    else:
        asyncio.run(explain_postgresql(args.database_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
