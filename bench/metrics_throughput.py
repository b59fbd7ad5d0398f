"""Benchmark metric ingestion: a task logging 100,000 points through a real Plait server,
against the same points sent with MLflow's client to a local `mlflow server`.

Starts `plait server` (embedded SQLite, local executor, default sandbox) in a fresh data
directory and a `mlflow server` (SQLite backend, artifacts in a temporary folder) on free
ports, then:

  plait            a task calls `plait.log_metric("loss", v, step=i)` for i in 0..N-1; the
                   wall time runs from POST /runs to the run's end (its metrics are stored
                   by then: an attempt's exit is applied after its records), `--repeats`
                   times; the points stored are counted in the database each time
  plait log_metrics  the same N points as N/10 calls of `plait.log_metrics({10 keys}, step)`
  mlflow per point MlflowClient.log_metric per point (one HTTP request each)
  mlflow log_batch MlflowClient.log_batch in batches of 1000

It prints each figure (median of the repeats, points/s stored) and the ratio of Plait's rate
to MLflow's per-point one (the goal is at least 10x). MLflow's per-point run is slow (one
request per point): `--mlflow-points` times a smaller sample of it, and says so.

    .venv/bin/python bench/metrics_throughput.py [--points 100000] [--repeats 3]
                                                 [--mlflow-points N]

Exits 1 when a run fails or stores the wrong number of points, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from _server import (
    BenchError,
    free_port,
    guarded,
    login,
    print_footer,
    print_header,
    running_server,
    stop,
)

GOAL_RATIO = 10.0
RUN_TIMEOUT_SECONDS = 600
BATCH = 1000  # MLflow's log_batch bound
PER_POINT = """
import plait
for i in range({n}):
    plait.log_metric("loss", 1.0 / (i + 1), step=i)
"""
BATCHED = """
import plait
for i in range({n} // 10):
    plait.log_metrics({{f"m{{k}}": 1.0 / (i + k + 1) for k in range(10)}}, step=i)
"""


class Failed(Exception):
    """A measured run failed or stored the wrong points."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000, help="points per run (100000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (3)")
    parser.add_argument(
        "--mlflow-points", type=int, default=None,
        help="points of MLflow's per-point run (default: --points)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = print_header("metric points through Plait and through MLflow's client")
    code = guarded(lambda: measure(opts), failed=(Failed,), broken=(httpx.HTTPError,))
    print_footer(started)
    return code if isinstance(code, int) else 0


def measure(opts: argparse.Namespace) -> int:
    n = opts.points
    with tempfile.TemporaryDirectory(prefix="plait-bench-") as tmp:
        plait_rates = plait_figures(Path(tmp) / "plait", n, opts.repeats)
        mlflow_rates = mlflow_figures(Path(tmp) / "mlflow", n, opts.mlflow_points or n)
    per_point = mlflow_rates["mlflow log_metric per point"]
    print()
    for name, rate in plait_rates.items():
        print(f"ratio {name} / mlflow per point: {rate / per_point:.1f}x (goal {GOAL_RATIO:.0f}x)")
    batch = mlflow_rates["mlflow log_batch of 1000"]
    print(
        f"ratio plait log_metric / mlflow log_batch: {plait_rates['plait log_metric'] / batch:.2f}x"
    )
    return 0


def report(name: str, n: int, walls: list[float]) -> float:
    wall = statistics.median(walls)
    rate = n / wall
    each = ", ".join(f"{w:.2f}" for w in walls)
    print(f"{name:32} {n:>7} points  median {wall:7.2f} s  {rate:>9,.0f} points/s  ({each} s)")
    return rate


# --- Plait ----------------------------------------------------------------------------------


def plait_figures(data_dir: Path, n: int, repeats: int) -> dict[str, float]:
    data_dir.mkdir()
    password = secrets.token_urlsafe(16)
    settings = {
        "PLAIT_DATA_DIR": str(data_dir),
        "PLAIT_LOAD_DEMO": "false",
        "PLAIT_LOG_LEVEL": "WARNING",
        "PLAIT_ADMIN_PASSWORD": password,
        "PLAIT_ACCESS_TOKEN_MINUTES": "60",
    }
    rates = {}
    with running_server(data_dir, settings) as server:
        auth = {"Authorization": f"Bearer {login(server.base, password)}"}
        with httpx.Client(base_url=server.base, headers=auth, timeout=60) as http:
            for name, code in (("plait log_metric", PER_POINT), ("plait log_metrics", BATCHED)):
                workflow = name.replace(" ", "-")
                create(http, workflow, code.format(n=n))
                timed(http, workflow, data_dir, n)  # warm-up: imports, caches
                walls = [timed(http, workflow, data_dir, n) for _ in range(repeats)]
                rates[name] = report(name, n, walls)
    return rates


def create(http: httpx.Client, name: str, code: str) -> None:
    doc = {"name": name, "tasks": [{"key": "log", "kind": "python", "code": code}]}
    made = http.post("/api/v1/workflows", json=doc)
    if made.status_code != 201:
        raise BenchError(f"creating {name}: {made.status_code} {made.text[:300]}")


def timed(http: httpx.Client, workflow: str, data_dir: Path, n: int) -> float:
    start = time.perf_counter()
    made = http.post(f"/api/v1/workflows/{workflow}/runs", json={})
    if made.status_code != 201:
        raise BenchError(f"starting {workflow}: {made.status_code} {made.text[:300]}")
    run_id = made.json()["id"]
    while True:
        run = http.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            break
        if time.perf_counter() - start > RUN_TIMEOUT_SECONDS:
            raise Failed(f"run {run_id} still {run['status']} after {RUN_TIMEOUT_SECONDS} s")
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if run["status"] != "succeeded":
        raise Failed(f"run {run_id} {run['status']}: {run['tasks']}")
    db = sqlite3.connect(data_dir / "plait.db")
    try:
        (stored,) = db.execute(
            "SELECT count(*) FROM metrics WHERE run_id = ?", (run_id,)
        ).fetchone()
    finally:
        db.close()
    if stored != n:
        raise Failed(f"run {run_id} stored {stored} points, not {n}")
    return wall


# --- MLflow ---------------------------------------------------------------------------------


@contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    folder.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    with (folder / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [mlflow, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"mlflow server exited with {proc.returncode}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            raise BenchError("mlflow server not ready within 180 s")
        yield url
    finally:
        stop(proc)


def mlflow_figures(folder: Path, n: int, per_point_n: int) -> dict[str, float]:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    rates = {}
    with mlflow_server(folder) as url:
        client = MlflowClient(url)
        experiment = client.create_experiment("bench")

        def per_point(run_id: str, count: int) -> None:
            for i in range(count):
                client.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)

        def batched(run_id: str, count: int) -> None:
            now = int(time.time() * 1000)
            for start in range(0, count, BATCH):
                points = [Metric("loss", 1.0 / (i + 1), now, i)
                          for i in range(start, min(count, start + BATCH))]  # fmt: skip
                client.log_batch(run_id, metrics=points)

        name = "mlflow log_metric per point"
        if per_point_n != n:
            name_note = f" (a sample of {per_point_n} of the {n} points)"
            print(f"{name}{name_note}")
        walls = [mlflow_run(client, experiment, per_point, per_point_n)]
        rates[name] = report(name, per_point_n, walls)
        walls = [mlflow_run(client, experiment, batched, n) for _ in range(3)]
        rates["mlflow log_batch of 1000"] = report("mlflow log_batch of 1000", n, walls)
    return rates


def mlflow_run(client: Any, experiment: str, send: Callable[[str, int], None], count: int) -> float:
    run_id = client.create_run(experiment).info.run_id
    start = time.perf_counter()
    send(run_id, count)
    wall = time.perf_counter() - start
    stored = len(client.get_metric_history(run_id, "loss"))
    if stored != count:
        raise Failed(f"MLflow run {run_id} stored {stored} points, not {count}")
    return wall


if __name__ == "__main__":
    sys.exit(main())
