"""Benchmark the Celery executor: one run of `--tasks` (1,000) parallel no-op tasks, on
1, 2 and 4 `plait worker` processes, beside the local executor and a bare Celery no-op
round trip on the same broker (the floor), in one run of the script.

For each setting it prints the median over `--runs` runs of:
  tasks/s    tasks / (the run's finished_at - started_at), as the server stamped them
  dispatch/s attempts queued per second (first to last queued_at): how fast the scheduler
             hands work to the executor (the broker, for Celery)

The server is `plait server` on a fresh PostgreSQL database (PLAIT_EXECUTOR=celery or
local); workers run `--concurrency` attempts each (threads, one fork server per worker).
The floor is `celery worker` (threads, the same concurrency and worker count) running a task
that only increments a Redis counter: N messages sent, timed until all have run.

    .venv/bin/python bench/celery_fanout.py [--runs 3] [--tasks 1000] [--workers 1,2,4]
                                            [--concurrency 4] [--broker redis|amqp]

No assertions: it prints figures. Exits 1 when a run did not succeed, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from _server import (
    BenchError,
    guarded,
    login,
    print_footer,
    print_header,
    running_server,
    server_env,
)

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BROKERS = {"redis": "redis://127.0.0.1:6379/14", "amqp": "amqp://guest:guest@127.0.0.1:5672//"}
PASSWORD = "bench-admin-password-1"
RUN_SECONDS = 300.0
READY_SECONDS = 60.0
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class Options:
    runs: int
    tasks: int
    workers: tuple[int, ...]
    concurrency: int
    broker: str


@dataclass(frozen=True)
class Figures:
    tasks_per_s: float
    dispatch_per_s: float | None


def parse_args() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=4, help="attempts per worker (4)")
    parser.add_argument("--broker", choices=sorted(BROKERS), default="redis")
    args = parser.parse_args()
    counts = tuple(int(n) for n in args.workers.split(","))
    if not (1 <= args.runs <= 10 and 1 <= args.tasks <= 10_000 and all(counts)):
        parser.error("keep it bounded: --runs 1..10, --tasks 1..10000, workers >= 1")
    return Options(args.runs, args.tasks, counts, args.concurrency, args.broker)


# ---------------------------------------------------------------- Plait


@contextmanager
def pg_database() -> Iterator[str]:
    name = f"plait_bench_celery_{os.getpid()}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def plait_env(executor: str, database: str, broker: str, prefix: str) -> dict[str, str]:
    return {"PLAIT_EXECUTOR": executor, "PLAIT_DATABASE_URL": database,
            "PLAIT_BROKER_URL": broker, "PLAIT_QUEUE_PREFIX": prefix,
            "PLAIT_ADMIN_PASSWORD": PASSWORD, "PLAIT_LOAD_DEMO": "false",
            "PLAIT_LOG_LEVEL": "WARNING", "PLAIT_MAX_PARALLEL_TASKS": "10000"}  # fmt: skip


@contextmanager
def workers(count: int, env: dict[str, str], concurrency: int, tmp: Path) -> Iterator[None]:
    plait = str(Path(sys.executable).with_name("plait"))
    procs = []
    try:
        for n in range(count):
            log = tmp / f"worker{n}.log"
            worker_env = {**env, "PLAIT_DATA_DIR": str(tmp / f"worker{n}")}
            with log.open("wb") as out:
                procs.append(subprocess.Popen(
                    [plait, "worker", "--concurrency", str(concurrency)], env=worker_env,
                    stdout=out, stderr=subprocess.STDOUT))  # fmt: skip
            _until_ready(log, procs[-1])
        yield
    finally:
        for proc in procs:
            _stop(proc)


def _until_ready(log: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"a worker exited: {log.read_text(errors='replace')[-2000:]}")
        if " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise BenchError(f"a worker was not ready in {READY_SECONDS} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def fan_out(http: httpx.Client, tasks: int) -> str:
    name = f"fanout{secrets.token_hex(3)}"
    body = {"name": name, "tasks": [{"key": f"t{i}", "kind": "python", "code": "pass"}
                                    for i in range(tasks)]}  # fmt: skip
    made = http.post("/api/v1/workflows", json=body)
    if made.status_code != 201:
        raise BenchError(f"workflow not created: {made.text[:300]}")
    return name


def measure(http: httpx.Client, workflow: str) -> Figures:
    started = http.post(f"/api/v1/workflows/{workflow}/runs", json={})
    run_id = started.json()["id"]
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        run = http.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in FINISHED:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"run {run_id} not finished in {RUN_SECONDS} s")
        time.sleep(0.2)
    if run["status"] != "succeeded":
        raise RunFailed(f"run {run_id} {run['status']}")
    wall = _at(run["finished_at"]) - _at(run["started_at"])
    queued = sorted(_at(t["attempts"][0]["queued_at"]) for t in run["tasks"])
    spread = queued[-1] - queued[0]
    return Figures(len(queued) / wall, (len(queued) - 1) / spread if spread > 0 else None)


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class RunFailed(Exception):
    pass


def plait_figures(opts: Options, executor: str, count: int, database: str, tmp: Path
                  ) -> list[Figures]:  # fmt: skip
    prefix = f"bench-{os.getpid()}-{secrets.token_hex(2)}-"
    env = plait_env(executor, database, BROKERS[opts.broker], prefix)
    data = Path(tempfile.mkdtemp(dir=tmp))
    with running_server(data, {**env, "PLAIT_DATA_DIR": str(data)}) as server:
        token = login(server.base, PASSWORD)
        http = httpx.Client(base_url=server.base, timeout=30,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        made = http.post("/api/v1/tokens", json={"name": f"bench{count}", "worker": True})
        worker_env = server_env({"PLAIT_BROKER_URL": env["PLAIT_BROKER_URL"],
                                 "PLAIT_QUEUE_PREFIX": prefix, "PLAIT_URL": server.base,
                                 "PLAIT_WORKER_TOKEN": made.json().get("token", "")})  # fmt: skip
        workflow = fan_out(http, opts.tasks)
        if executor == "local":
            measure(http, workflow)  # warm-up, as for the workers
            return [measure(http, workflow) for _ in range(opts.runs)]
        with workers(count, worker_env, opts.concurrency, data):
            measure(http, workflow)  # warm-up: the fork servers' first forks, connections
            return [measure(http, workflow) for _ in range(opts.runs)]


# ---------------------------------------------------------------- the floor


def floor(opts: Options, count: int, tmp: Path) -> list[float]:
    counter = f"plait-bench-noop-{os.getpid()}"
    queue = f"bench-noop-{os.getpid()}"
    env = {**os.environ, "BENCH_BROKER_URL": BROKERS[opts.broker], "BENCH_COUNTER": counter}
    here = Path(__file__).parent
    procs = []
    for n in range(count):
        log = tmp / f"noop{n}.log"
        with log.open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "_celery_noop", "worker", "-P", "threads",
                 "-c", str(opts.concurrency), "-Q", queue, "-n", f"noop{n}@%h", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "-l", "INFO"],
                cwd=here, env=env, stdout=out, stderr=subprocess.STDOUT))  # fmt: skip
        _until_ready(log, procs[-1])
    sys.path.insert(0, str(here))
    os.environ.update({"BENCH_BROKER_URL": BROKERS[opts.broker], "BENCH_COUNTER": counter})
    import _celery_noop

    counts = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        return [_noop_round(_celery_noop, counts, counter, queue, opts.tasks)
                for _ in range(opts.runs + 1)][1:]  # fmt: skip
    finally:
        for proc in procs:
            _stop(proc)
        counts.delete(counter)


def _noop_round(module: Any, counts: redis.Redis, counter: str, queue: str, n: int) -> float:
    counts.set(counter, 0)
    started = time.monotonic()
    for _ in range(n):
        module.noop.apply_async(queue=queue)
    while int(counts.get(counter) or 0) < n:
        if time.monotonic() - started > RUN_SECONDS:
            raise BenchError("the no-op floor did not finish")
        time.sleep(0.01)
    return n / (time.monotonic() - started)


# ---------------------------------------------------------------- main


def main() -> int:
    opts = parse_args()
    began = print_header(f"broker {opts.broker}, {opts.tasks} tasks, {opts.concurrency} per worker")

    def work() -> int:
        with tempfile.TemporaryDirectory() as tmp:
            _report("local executor", _local(opts, Path(tmp)))
            for count in opts.workers:
                with pg_database() as database:
                    found = plait_figures(opts, "celery", count, database, Path(tmp))
                _report(f"celery, {count} worker(s)", found)
                rates = floor(opts, count, Path(tmp))
                print(f"  floor: bare celery no-op, {count} worker(s): "
                      f"{statistics.median(rates):8.1f} tasks/s  (runs: "
                      f"{', '.join(f'{r:.0f}' for r in rates)})", flush=True)  # fmt: skip
        print_footer(began)
        return 0

    return guarded(work, failed=(RunFailed,))


def _local(opts: Options, tmp: Path) -> list[Figures]:
    with pg_database() as database:
        return plait_figures(opts, "local", 0, database, tmp)


def _report(label: str, found: list[Figures]) -> None:
    tasks = statistics.median(f.tasks_per_s for f in found)
    dispatch = [f.dispatch_per_s for f in found if f.dispatch_per_s is not None]
    rate = f"{statistics.median(dispatch):8.1f}" if dispatch else "       -"
    print(f"{label:26s} {tasks:8.1f} tasks/s, dispatch {rate}/s  (runs: "
          f"{', '.join(f'{f.tasks_per_s:.0f}' for f in found)})", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
