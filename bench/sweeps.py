"""Benchmark sweeps: making a sweep's runs (all in one transaction) and reading its table.

Starts the real server (`plait server`, embedded SQLite) in a fresh data directory with the
scheduler off (the runs stay queued: what is measured is the API, not the tasks), creates a
workflow with one param, and then for each size N in `--sizes`:

  create   POST /api/v1/workflows/{ref}/sweeps with a grid of N values (N runs, N attempts,
           N outbox and audit rows), wall time of the request
  table    GET /api/v1/sweeps/{id} (N rows with params and final metrics, best run), the
           median of `--reads` requests

    .venv/bin/python bench/sweeps.py [--sizes 10,100,1000] [--reads 5]

Exits 2 on a setup error.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from _server import BenchError, guarded, login, print_footer, print_header, running_server


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10,100,1000", help="runs per sweep (10,100,1000)")
    parser.add_argument("--reads", type=int, default=5, help="GETs of each sweep's table (5)")
    return parser.parse_args(argv)


def measure(opts: argparse.Namespace) -> list[tuple[int, float, float]]:
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="plait-bench-sweeps-") as tmp:
        data_dir = Path(tmp)
        settings = {"PLAIT_DATA_DIR": str(data_dir), "PLAIT_LOAD_DEMO": "false",
                    "PLAIT_SCHEDULER": "false", "PLAIT_LOG_LEVEL": "WARNING",
                    "PLAIT_ADMIN_PASSWORD": password}  # fmt: skip
        with running_server(data_dir, settings) as server:
            headers = {"Authorization": f"Bearer {login(server.base, password)}"}
            with httpx.Client(base_url=server.base, headers=headers, timeout=600) as http:
                doc = {"name": "bench", "params": {"x": {"type": "integer", "default": 0}},
                       "tasks": [{"key": "t", "kind": "python", "code": "pass"}]}  # fmt: skip
                if http.post("/api/v1/workflows", json=doc).status_code != 201:
                    raise BenchError("could not create the workflow")
                return [one_size(http, int(n), opts.reads) for n in opts.sizes.split(",")]


def one_size(http: httpx.Client, size: int, reads: int) -> tuple[int, float, float]:
    body = {"grid": {"x": list(range(size))}, "max_parallel": 4, "metric": "score"}
    start = time.perf_counter()
    made = http.post("/api/v1/workflows/bench/sweeps", json=body)
    create = time.perf_counter() - start
    if made.status_code != 201 or made.json()["total"] != size:
        raise BenchError(f"sweep of {size}: {made.status_code} {made.text[:300]}")
    times = []
    for _ in range(reads):
        start = time.perf_counter()
        got = http.get(f"/api/v1/sweeps/{made.json()['id']}")
        times.append(time.perf_counter() - start)
        if got.status_code != 200 or len(got.json()["rows"]) != size:
            raise BenchError(f"table of {size}: {got.status_code}")
    return size, create, statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = print_header("shared by the server and this client; SQLite, scheduler off")
    results = guarded(lambda: measure(opts))
    if isinstance(results, int):
        return results
    print(f"\n{'runs':>6} {'create (s)':>11} {'ms per run':>11} {'table (ms)':>11}")
    for size, create, table in results:
        print(f"{size:>6} {create:>11.2f} {create / size * 1000:>11.1f} {table * 1000:>11.1f}")
    print_footer(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
