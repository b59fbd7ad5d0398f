"""Benchmark the statistics routes on a database that already holds many runs.

Seed it first (bench/seed_runs.py, or any database with runs), then:

    .venv/bin/python bench/stats.py --database-url sqlite+aiosqlite:////tmp/big.db \
        [--workflow wf1] [--days 7,30,90] [--repeat 7]

The app runs in this process (no scheduler, httpx over ASGI), so the figures are the
routes' own time: authentication, the queries and the JSON. For each route and window it
prints the median and the slowest of `repeat` calls after one warm-up call, and the ratio of
the median to a baseline measured in the same run: the first page of the workflow's runs
(GET /api/v1/runs?workflow=...&limit=50, an indexed list).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from plait.api.app import create_app
from plait.auth.tokens import issue_access_token
from plait.db.models import Run, User
from plait.settings import Settings

SECRET = "bench-signing-key-" + "x" * 32


async def timed(client: httpx.AsyncClient, path: str, repeat: int) -> tuple[float, float]:
    """Median and slowest milliseconds of `repeat` calls, after one warm-up call."""
    (await client.get(path)).raise_for_status()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    return statistics.median(times), max(times)


async def main(url: str, workflow: str, windows: list[int], repeat: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(database_url=url, data_dir=Path(data), secret_key=SECRET,
                            admin_password="bench-admin-password", load_demo=False,
                            scheduler=False)  # fmt: skip
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            db = app.state.plait.db
            async with db.read() as session:
                admin = (await session.execute(select(User).order_by(User.id))).scalars().first()
                runs = (await session.execute(select(func.count()).select_from(Run))).scalar()
            assert admin is not None, "the database has no user"
            token, _ = issue_access_token(admin, SECRET, 60)
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                         headers=headers, timeout=120) as client:  # fmt: skip
                base, _ = await timed(client, f"/api/v1/runs?workflow={workflow}&limit=50", repeat)
                print(f"{db.dialect}, {runs:,} runs; baseline (runs list) median {base:.1f} ms")
                print(f"{'route':<42} {'days':>5} {'median ms':>10} {'max ms':>8} {'x base':>7}")
                for days in windows:
                    for path in (f"/api/v1/workflows/{workflow}/stats", "/api/v1/stats"):
                        median, slowest = await timed(client, f"{path}?days={days}", repeat)
                        print(f"{path:<42} {days:>5} {median:>10.1f} {slowest:>8.1f} "
                              f"{median / base:>7.1f}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workflow", default="wf1", help="the workflow whose stats are read")
    parser.add_argument("--days", default="7,30,90")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    windows = [int(d) for d in args.days.split(",")]
    asyncio.run(main(args.database_url, args.workflow, windows, args.repeat))
