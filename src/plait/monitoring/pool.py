"""The database pool's use, from SQLAlchemy's pool events: connections kept (pool_size), in
use, and in use beyond pool_size (max_overflow's). Gauges move by differences, so several
engines in one process (and, in multiprocess mode, several processes) add up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from plait.monitoring import instruments


def watch(engine: AsyncEngine, name: str) -> Callable[[], None]:
    """Follow `engine`'s pool as `name`; returns what to call when the engine is disposed."""
    pool: Any = engine.sync_engine.pool
    size = int(pool.size()) if hasattr(pool, "size") else 0
    kept = instruments.pool_size.labels(name)
    used = instruments.pool_checked_out.labels(name)
    over = instruments.pool_overflow.labels(name)
    kept.inc(size)
    state = {"used": 0, "over": 0}

    def moved(by: int) -> None:
        # Counted, not read from the pool: its checkin event fires before the connection is
        # back, so the pool's own count would still include it.
        now_over = max(0, state["used"] + by - size)
        used.inc(by)
        over.inc(now_over - state["over"])
        state["used"] += by
        state["over"] = now_over

    def out(*_: Any) -> None:
        moved(1)

    def back(*_: Any) -> None:
        moved(-1)

    event.listen(engine.sync_engine, "checkout", out)
    event.listen(engine.sync_engine, "checkin", back)

    def stop() -> None:
        event.remove(engine.sync_engine, "checkout", out)
        event.remove(engine.sync_engine, "checkin", back)
        kept.dec(size)
        used.dec(state["used"])
        over.dec(state["over"])
        state["used"] = state["over"] = 0

    return stop
