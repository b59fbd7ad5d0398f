"""What the Prometheus instrumentation costs a request: a cheap route (`GET /healthz`) with
PLAIT_METRICS_ENABLED on and off.

Two apps are built from the same settings but for that one flag (embedded SQLite in a fresh
data directory, no scheduler), each run under its lifespan, and called in-process through
httpx's ASGI transport, one request at a time: no sockets and no client pool in the way, so
the difference is the middleware's (one more ASGI layer, a counter and a histogram).
The two alternate, `--runs` times each, `--requests` requests a run after a warm-up; the
script prints each run, then the medians of requests/s and p50 latency and their ratio, and
the cost per request in microseconds; then the middleware alone around a trivial ASGI app
(its own cost, which the machine's load cannot hide in). Figures only, no assertion.

    .venv/bin/python bench/metrics_overhead.py [--runs 5] [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from _server import print_footer, print_header
from plait.api.app import create_app
from plait.monitoring.http import HttpMetrics
from plait.settings import Settings

WARMUP = 500
ALONE_CALLS = 100_000


class _Route:
    path = "/healthz"


async def _trivial(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that does nothing but answer, as a route the router matched."""
    scope["route"] = _Route
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _per_call(app: Any) -> float:
    """Microseconds a call of `app`, over ALONE_CALLS calls."""

    async def send(_message: Any) -> None:
        pass

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    started = time.perf_counter()
    for _ in range(ALONE_CALLS):
        await app({"type": "http", "method": "GET", "path": "/healthz"}, receive, send)
    return (time.perf_counter() - started) / ALONE_CALLS * 1e6


async def middleware_alone(runs: int) -> None:
    """The middleware around a trivial app against the app bare: its own cost, without the
    noise of a whole request (the machine's load moves requests/s by more than that)."""
    wrapped = HttpMetrics(_trivial)
    costs = [await _per_call(wrapped) - await _per_call(_trivial) for _ in range(runs)]
    print(f"\nthe middleware alone ({ALONE_CALLS:,} calls, median of {runs}): "
          f"{statistics.median(costs):.2f} µs a request")  # fmt: skip


async def one_run(client: httpx.AsyncClient, requests: int) -> tuple[float, float]:
    """(requests/s, p50 in ms) of `requests` sequential GET /healthz."""
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        before = time.perf_counter()
        response = await client.get("/healthz")
        latencies.append(time.perf_counter() - before)
        assert response.status_code == 200, response.text
    elapsed = time.perf_counter() - started
    return requests / elapsed, statistics.median(latencies) * 1000


async def measure(runs: int, requests: int) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(prefix="plait-bench-") as tmp:
        async with AsyncExitStack() as stack:
            clients: dict[str, httpx.AsyncClient] = {}
            for mode in results:
                settings = Settings(data_dir=Path(tmp) / mode, load_demo=False, scheduler=False,
                                    notify_worker=False, metrics_enabled=mode == "on",
                                    admin_password="bench-password-1")  # fmt: skip
                app: FastAPI = create_app(settings)
                await stack.enter_async_context(app.router.lifespan_context(app))
                transport = httpx.ASGITransport(app=app)
                clients[mode] = await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://plait.bench")
                )
                await one_run(clients[mode], WARMUP)
            for i in range(runs):
                for mode in ("on", "off") if i % 2 == 0 else ("off", "on"):
                    rate, p50 = await one_run(clients[mode], requests)
                    results[mode].append((rate, p50))
                    print(f"run {i + 1} metrics {mode:>3}: {rate:8.0f} req/s  p50 {p50:.3f} ms",
                          flush=True)  # fmt: skip
    return results


def report(results: dict[str, list[tuple[float, float]]]) -> None:
    rate = {mode: statistics.median(r for r, _ in runs) for mode, runs in results.items()}
    p50 = {mode: statistics.median(p for _, p in runs) for mode, runs in results.items()}
    print("\nmedians (GET /healthz, in-process, one at a time)")
    for mode in ("off", "on"):
        print(f"  metrics {mode:>3}: {rate[mode]:8.0f} req/s  p50 {p50[mode]:.3f} ms")
    print(f"  on/off: {rate['on'] / rate['off']:.3f}x the requests/s, "
          f"{p50['on'] / p50['off']:.3f}x the p50")  # fmt: skip
    per_request = (1 / rate["on"] - 1 / rate["off"]) * 1e6
    print(f"  cost of the instrumentation: {per_request:.1f} µs a request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    started = print_header("in-process ASGI, embedded SQLite")
    report(asyncio.run(measure(args.runs, args.requests)))
    asyncio.run(middleware_alone(args.runs))
    print_footer(started)


if __name__ == "__main__":
    main()
