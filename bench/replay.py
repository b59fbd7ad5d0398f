"""Traffic replay: the UI's request mix at N users against a database full of history.

Starts the real server (`plait server`, local executor, database log store) on a database
seeded by seed_runs.py (SQLite file or PostgreSQL URL; it is migrated, never emptied), signs
in N of the seed's users and has each replay the mix in replay_mix.yaml for `--seconds`: a
request picked by weight, its placeholders filled from samples of the history, a pause
(`think_seconds`, exponential), again. Each user also keeps a WebSocket subscribed to `*`.

It prints, per route template: requests, p50 and p99 latency (ms), client or server errors;
then requests per second and WebSocket events received. With `--repeat` > 1 each figure is the
median over the repetitions (each a fresh server on the same database). Latency is measured by
the client (same machine): request sent -> whole answer read.

    .venv/bin/python bench/replay.py --database-url URL [--users 1,4,16] [--seconds 30]
        [--repeat 3] [--mix bench/replay_mix.yaml] [--think SECONDS] [--variants]

    URL: sqlite+aiosqlite:////path/plait.db or postgresql+asyncpg://user@host/db
    (seed it first: bench/seed_runs.py --database-url URL --runs 1000000)

Next to the client's figures it prints the server's own: the p50/p99 of
`plait_http_request_duration_seconds` (scraped from /metrics as admin before and after each
round; interpolated within the histogram's buckets, as Prometheus' histogram_quantile does),
and the CPU the server and this client process used. The server's figure is the time from
the request reaching the app to the end of its answer; the difference to the client's is
time in the client (16 users share one Python process and event loop) and on the wire.

Exits 1 when a request failed (5xx or no answer), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from _server import BenchError, Server, guarded, print_footer, print_header, running_server
from plait.db.pagination import encode_cursor
from seed_runs import SEED_PASSWORD, USERS

HERE = Path(__file__).parent
SAMPLE_RUNS = 300  # runs sampled from the history for {run}, {cursor}, {run_ids}
GOAL_P99_MS = 50.0
DURATION = "plait_http_request_duration_seconds"


@dataclass(frozen=True)
class Request:
    route: str  # the template the figures are reported under
    path: str
    weight: float
    method: str = "GET"
    body: Any = None


@dataclass(frozen=True)
class Mix:
    think_seconds: float
    requests: list[Request]

    @classmethod
    def load(cls, path: Path, think: float | None) -> Mix:
        data = yaml.safe_load(path.read_text())
        requests = [Request(**r) for r in data["requests"]]
        return cls(data["think_seconds"] if think is None else think, requests)


@dataclass(frozen=True)
class History:
    """What the placeholders are filled from."""

    workflows: list[tuple[int, str]]
    runs: list[tuple[int, datetime]]

    def fill(self, path: str, rng: random.Random) -> str:
        workflow_id, name = rng.choice(self.workflows)
        run_id, created = rng.choice(self.runs)
        since = (datetime.now(UTC) - timedelta(days=7)).isoformat()
        values = {
            "workflow": name,
            "workflow_id": str(workflow_id),
            "run": str(run_id),
            "cursor": encode_cursor("-created", created, run_id),
            "status": rng.choice(("failed", "cancelled", "succeeded")),
            "since": quote(since),
            "run_ids": ",".join(str(r) for r, _ in rng.sample(self.runs, 3)),
        }
        return path.format(**values)


@dataclass
class Figures:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    variants: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # by path
    client_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, str] = field(default_factory=dict)  # route -> the last failure
    ws_events: int = 0
    seconds: float = 0.0
    server: dict[str, Buckets] = field(default_factory=dict)  # route -> this round's buckets
    server_cpu: float = 0.0  # CPU seconds of the server process in the round
    client_cpu: float = 0.0  # CPU seconds of this (client) process in the round

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())


Buckets = dict[float, float]  # upper bound (s) -> cumulative count


def server_histograms(base: str, token: str) -> dict[str, Buckets]:
    """The server's request-duration histogram per "METHOD route", from /metrics."""
    text = httpx.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).text
    out: dict[str, Buckets] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        if family.name != DURATION:
            continue
        for sample in family.samples:
            if sample.name == DURATION + "_bucket":
                route = f"{sample.labels['method']} {sample.labels['route']}"
                out[route][float(sample.labels["le"])] = sample.value
    return out


def bucket_delta(after: dict[str, Buckets], before: dict[str, Buckets]) -> dict[str, Buckets]:
    return {
        route: {le: n - before.get(route, {}).get(le, 0.0) for le, n in buckets.items()}
        for route, buckets in after.items()
    }


def bucket_quantile(buckets: Buckets, q: float) -> float | None:
    """histogram_quantile: ms, linear within the bucket the q-th observation falls in."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, low, below = q * total, 0.0, 0.0
    for le in bounds:
        if buckets[le] >= rank:
            if math.isinf(le):
                return low * 1000  # above the top bucket: its bound is all one knows
            share = (rank - below) / (buckets[le] - below) if buckets[le] > below else 1.0
            return (low + (le - low) * share) * 1000
        low, below = le, buckets[le]
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def login(base: str, username: str) -> str:
    body = {"username": username, "password": SEED_PASSWORD}
    response = httpx.post(f"{base}/api/v1/auth/login", json=body, timeout=60)
    if response.status_code != 200:
        raise BenchError(f"login {username}: {response.status_code} {response.text[:200]}")
    token: str = response.json()["access_token"]
    return token


def sample_history(base: str, token: str, rng: random.Random) -> History:
    """Workflows from the list; runs picked at random ids across the whole history."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        listed = client.get("/api/v1/workflows", params={"limit": 500}).json()["items"]
        workflows = [(w["id"], w["name"]) for w in listed]
        newest = client.get("/api/v1/runs", params={"limit": 1}).json()["items"]
        if not workflows or not newest:
            raise BenchError("the database has no workflows or runs: seed it (seed_runs.py)")
        runs: list[tuple[int, datetime]] = []
        for _ in range(SAMPLE_RUNS * 3):
            found = client.get(f"/api/v1/runs/{rng.randint(1, newest[0]['id'])}")
            if found.status_code == 200:
                runs.append(
                    (found.json()["id"], datetime.fromisoformat(found.json()["created_at"]))
                )
            if len(runs) == SAMPLE_RUNS:
                break
    if len(runs) < 3:
        raise BenchError("could not sample runs from the history")
    return History(workflows, runs)


async def user(
    base: str, token: str, mix: Mix, history: History, until: float, seed: int, out: Figures
) -> None:
    rng = random.Random(seed)
    weights = [r.weight for r in mix.requests]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        while time.monotonic() < until:
            request = rng.choices(mix.requests, weights)[0]
            path = history.fill(request.path, rng)
            started = time.perf_counter()
            try:
                response = await client.request(request.method, path, json=request.body)
                code: int | None = response.status_code
            except httpx.HTTPError as exc:
                code, response = None, None
                out.samples[request.route] = f"{type(exc).__name__}: {exc}"
            took = (time.perf_counter() - started) * 1000
            out.latencies[request.route].append(took)
            out.variants[request.path].append(took)
            if code is None or code >= 500:
                out.errors[request.route] += 1
                if response is not None:
                    out.samples[request.route] = f"{code} {path}: {response.text[:200]}"
            elif code >= 400:
                out.client_errors[request.route] += 1
                out.samples[request.route] = f"{code} {path}: {response.text[:200]}"  # type: ignore[union-attr]
            if mix.think_seconds:
                await asyncio.sleep(rng.expovariate(1 / mix.think_seconds))


async def subscriber(base: str, token: str, until: float, out: Figures) -> None:
    url = base.replace("http://", "ws://") + f"/ws?token={token}"
    async with connect(url) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": ["*"]}))
        while (left := until - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=left))
                if "type" in message:
                    out.ws_events += 1


async def replay(
    base: str, tokens: list[str], mix: Mix, history: History, seconds: float, seed: int
) -> Figures:
    out = Figures()
    until = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(
        *(user(base, t, mix, history, until, seed + n, out) for n, t in enumerate(tokens)),
        *(subscriber(base, t, until, out) for t in tokens),
    )
    out.seconds = time.monotonic() - started
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(label: str, samples: list[list[float]], width: int = 46) -> tuple[str, float]:
    """A table row: median over rounds of count, p50, p99; and that p99."""
    present = [values for values in samples if values]
    count = statistics.median(len(values) for values in samples)
    p50 = statistics.median(percentile(values, 0.5) for values in present)
    p99 = statistics.median(percentile(values, 0.99) for values in present)
    return f"  {label:<{width}} {count:>7.0f} {p50:>8.1f} {p99:>8.1f}", p99


def _template(route: str) -> str:
    """`GET /api/v1/runs/{id}` and the server's `GET /api/v1/runs/{run_id}` alike."""
    return re.sub(r"\{[^}]*\}", "{}", route)


def _server_quantiles(route: str, rounds: list[Figures]) -> tuple[float | None, float | None]:
    """The server's p50 and p99 for `route`: medians over rounds of the histogram quantiles."""
    found = [
        buckets
        for f in rounds
        for name, buckets in f.server.items()
        if _template(name) == _template(route)
    ]
    quantiles = []
    for q in (0.5, 0.99):
        values = [v for b in found if (v := bucket_quantile(b, q)) is not None]
        quantiles.append(statistics.median(values) if values else None)
    return quantiles[0], quantiles[1]


def _ms(value: float | None) -> str:
    return f"{value:>8.1f}" if value is not None else f"{'-':>8}"


def report(users: int, rounds: list[Figures], variants: bool) -> bool:
    """The table for one user count; whether every request got an answer below 500."""
    routes = sorted({r for f in rounds for r in f.latencies})
    print(f"\n{users} users ({len(rounds)} rounds, medians; client measured, then server's own):")
    print(
        f"  {'route':<46} {'count':>7} {'p50 ms':>8} {'p99 ms':>8} {'4xx':>5} {'errors':>6}"
        f" {'srv p50':>8} {'srv p99':>8}"
    )
    worst = worst_server = 0.0
    for route in routes:
        line, p99 = _row(route, [f.latencies[route] for f in rounds])
        client = sum(f.client_errors[route] for f in rounds)
        errors = sum(f.errors[route] for f in rounds)
        server_p50, server_p99 = _server_quantiles(route, rounds)
        if not route.startswith("POST"):
            worst = max(worst, p99)
            worst_server = max(worst_server, server_p99 or 0.0)
        print(f"{line} {client:>5} {errors:>6} {_ms(server_p50)} {_ms(server_p99)}")
    rate = statistics.median(f.requests / f.seconds for f in rounds)
    events = statistics.median(f.ws_events for f in rounds)
    print(f"  throughput {rate:.0f} requests/s; WebSocket events received per round: {events:.0f}")
    server_cpu = statistics.median(f.server_cpu / f.seconds for f in rounds)
    client_cpu = statistics.median(f.client_cpu / f.seconds for f in rounds)
    print(f"  CPU: server {server_cpu:.0%} of a core, this client {client_cpu:.0%}")
    verdict = "meets" if worst < GOAL_P99_MS else "misses"
    print(f"  slowest list/detail p99 {worst:.1f} ms: {verdict} the {GOAL_P99_MS:.0f} ms goal")
    verdict = "meets" if worst_server < GOAL_P99_MS else "misses"
    print(f"  server-side: slowest list/detail p99 {worst_server:.1f} ms: {verdict} the goal")
    if variants:
        print("  by request of the mix:")
        for path in sorted({p for f in rounds for p in f.variants}):
            print(_row(path, [f.variants[path] for f in rounds], width=70)[0])
    for f in rounds:
        for route, sample in f.samples.items():
            print(f"  last failure of {route}: {sample}")
    return not any(f.errors for f in rounds)


def measured_round(
    server: Server,
    admin: str,
    tokens: list[str],
    mix: Mix,
    history: History,
    args: argparse.Namespace,
    seed: int,
) -> Figures:
    """One round, with the server's histograms and both processes' CPU around it."""
    before = server_histograms(server.base, admin)
    server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
    figures = asyncio.run(replay(server.base, tokens, mix, history, args.seconds, seed))
    figures.client_cpu = time.process_time() - client_cpu
    figures.server_cpu = cpu_seconds(server.pid) - server_cpu
    figures.server = bucket_delta(server_histograms(server.base, admin), before)
    return figures


def settings_for(database_url: str, data: Path) -> dict[str, str]:
    # Retention off (and events kept): at its default of 30 days the server would delete the
    # seeded history in batches while it is replayed, measuring those deletes (and shrinking
    # the million runs). bench/retention.py measures retention.
    return {"PLAIT_DATABASE_URL": database_url, "PLAIT_DATA_DIR": str(data),
            "PLAIT_LOG_STORE": "database", "PLAIT_LOAD_DEMO": "false",
            "PLAIT_LOG_LEVEL": "WARNING", "PLAIT_SECRET_KEY": "replay-" + "k" * 40,
            "PLAIT_RETENTION_DAYS": "0", "PLAIT_EVENTS_RETENTION_DAYS": "3650"}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    mix = Mix.load(args.mix, args.think)
    ok = True
    with tempfile.TemporaryDirectory(prefix="plait-replay-") as tmp:
        data = Path(tmp)
        rounds: dict[int, list[Figures]] = defaultdict(list)
        for repeat in range(args.repeat):
            with running_server(data, settings_for(args.database_url, data)) as server:
                tokens = [login(server.base, f"user{n:02d}") for n in range(1, USERS + 1)]
                history = sample_history(server.base, tokens[0], random.Random(repeat))
                admin = login(server.base, "admin")
                for users in args.users:
                    figures = measured_round(server, admin, tokens[:users], mix, history, args,
                                             repeat)  # fmt: skip
                    rounds[users].append(figures)
                    print(f"round {repeat + 1}, {users} users: {figures.requests} requests",
                          flush=True)  # fmt: skip
        for users in args.users:
            ok = report(users, rounds[users], args.variants) and ok
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--users", default="1,4,16", help="user counts, comma separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="per user count and round")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mix", type=Path, default=HERE / "replay_mix.yaml")
    parser.add_argument("--think", type=float, default=None, help="override think_seconds")
    parser.add_argument("--variants", action="store_true", help="also a row per mix request")
    args = parser.parse_args(argv)
    args.users = [int(u) for u in args.users.split(",")]
    if any(not 1 <= u <= USERS for u in args.users):
        parser.error(f"--users must be between 1 and {USERS}")
    started = print_header(f"database {args.database_url.split('://')[0]}")
    code = guarded(lambda: run(args), broken=(httpx.HTTPError, OSError))
    print_footer(started)
    return code


if __name__ == "__main__":
    sys.exit(main())
