"""A deployment's traffic, in memory (per server process): totals since the serving process
started, and latencies over a recent window for p50/p99."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

WINDOW_SECONDS = 300.0
WINDOW_MAX = 10_000


def _quantile(ordered: list[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Traffic:
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    requests: int = 0
    rows: int = 0
    errors: int = 0
    # (monotonic time, latency in ms) of recent answered requests
    recent: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=WINDOW_MAX))

    def answered(self, rows: int, latency_ms: float) -> None:
        self.requests += 1
        self.rows += rows
        self.recent.append((time.monotonic(), latency_ms))

    def failed(self) -> None:
        self.requests += 1
        self.errors += 1

    def summary(self) -> dict[str, Any]:
        horizon = time.monotonic() - WINDOW_SECONDS
        latencies = sorted(ms for at, ms in self.recent if at >= horizon)
        return {
            "since": self.since,
            "requests": self.requests,
            "rows": self.rows,
            "errors": self.errors,
            "window_seconds": WINDOW_SECONDS,
            "window_requests": len(latencies),
            "p50_ms": round(_quantile(latencies, 0.5), 3) if latencies else None,
            "p99_ms": round(_quantile(latencies, 0.99), 3) if latencies else None,
        }
