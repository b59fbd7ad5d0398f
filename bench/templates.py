"""Benchmark the built-in templates: how long each takes to run, end to end, and what the
gallery's list costs.

Starts the real server (`plait server`, embedded SQLite, local executor, the task sandbox)
in a fresh data directory, makes a workflow from each built-in template (timing the
instantiate call), runs each once to warm up and then `--runs` times, and prints per template
the median wall time of a run (created to finished, from the API) beside the sum of its
tasks' own durations, so the engine's share shows. Then it times `GET /api/v1/templates`.

    .venv/bin/python bench/templates.py [--runs 3] [--lists 200]

Exits 1 when a run did not succeed, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from _server import BenchError, guarded, login, print_footer, print_header, running_server

RUN_TIMEOUT_SECONDS = 120


class RunFailed(Exception):
    pass


def run_once(http: httpx.Client, workflow: str) -> tuple[float, float]:
    """(wall seconds of a run from creation to its end, the sum of its tasks' durations)."""
    run = http.post(f"/api/v1/workflows/{workflow}/runs", json={}).json()
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while run["status"] not in ("succeeded", "failed", "cancelled"):
        if time.monotonic() > deadline:
            raise RunFailed(f"{workflow}: run {run['id']} still {run['status']}")
        time.sleep(0.05)
        run = http.get(f"/api/v1/runs/{run['id']}").json()
    if run["status"] != "succeeded":
        raise RunFailed(f"{workflow}: run {run['id']} {run['status']}")
    wall = _seconds(run["created_at"], run["finished_at"])
    tasks = sum(_seconds(a["started_at"], a["finished_at"])
                for t in run["tasks"] for a in t["attempts"])  # fmt: skip
    return wall, tasks


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def measure(runs: int, lists: int) -> int:
    started = print_header("embedded SQLite, local executor")
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="plait-bench-templates-") as tmp:
        data_dir = Path(tmp)
        settings = {"PLAIT_DATA_DIR": str(data_dir), "PLAIT_LOAD_DEMO": "false",
                    "PLAIT_LOG_LEVEL": "WARNING", "PLAIT_ADMIN_PASSWORD": password,
                    "PLAIT_ACCESS_TOKEN_MINUTES": "60"}  # fmt: skip
        with running_server(data_dir, settings) as server:
            headers = {"Authorization": f"Bearer {login(server.base, password)}"}
            with httpx.Client(base_url=server.base, headers=headers, timeout=60) as http:
                _runs(http, runs)
                _lists(http, lists)
    print_footer(started)
    return 0


def _runs(http: httpx.Client, runs: int) -> None:
    templates: list[dict[str, Any]] = http.get("/api/v1/templates").json()["items"]
    print(f"\n{'template':<24} {'instantiate ms':>14} {'run s (median)':>15} {'tasks s':>8}")
    for t in (t for t in templates if t["builtin"]):
        name = f"bench-{t['name']}"
        began = time.perf_counter()
        made = http.post(f"/api/v1/templates/{t['id']}/instantiate", json={"name": name})
        if made.status_code != 201:
            raise BenchError(f"instantiate {t['id']}: {made.status_code} {made.text[:300]}")
        instantiate_ms = (time.perf_counter() - began) * 1000
        run_once(http, name)  # warm-up: imports, page cache
        figures = [run_once(http, name) for _ in range(runs)]
        wall = statistics.median(f[0] for f in figures)
        tasks = statistics.median(f[1] for f in figures)
        print(f"{t['name']:<24} {instantiate_ms:>14.1f} {wall:>15.2f} {tasks:>8.2f}", flush=True)


def _lists(http: httpx.Client, lists: int) -> None:
    times = []
    for _ in range(lists):
        began = time.perf_counter()
        http.get("/api/v1/templates").raise_for_status()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"\nGET /api/v1/templates x{lists}: p50 {statistics.median(times):.1f} ms, "
          f"p99 {p99:.1f} ms")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs per template (3)")
    parser.add_argument("--lists", type=int, default=200, help="timed list requests (200)")
    args = parser.parse_args()
    result = guarded(lambda: measure(args.runs, args.lists), failed=(RunFailed,))
    return result


if __name__ == "__main__":
    sys.exit(main())
