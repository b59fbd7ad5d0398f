"""Liveness and readiness: public, no auth, no secrets."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from plait import __version__
from plait.api.deps import Ctx
from plait.errors import Unavailable

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_SECONDS = 2.0  # a load balancer's probe must not hang on a dead dependency


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    """The process is alive."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readyz(ctx: Ctx) -> dict[str, Any]:
    """The database answers; so do Redis (when PLAIT_REDIS_URL is set) and the Celery broker
    (when PLAIT_EXECUTOR=celery). 503 names the one that does not, never its address."""
    try:
        await ctx.db.ping()
    except (SQLAlchemyError, OSError) as exc:
        raise Unavailable(f"database unavailable: {type(exc).__name__}") from exc
    ready: dict[str, Any] = {"status": "ok", "database": ctx.db.dialect}
    if ctx.settings.redis_url:
        await _check("redis", _ping_redis(ctx.settings.redis_url))
        ready["redis"] = "ok"
    broker = ctx.settings.broker_url
    if ctx.settings.executor == "celery" and broker:
        await _check("broker", asyncio.to_thread(_connect_broker, broker))
        ready["broker"] = "ok"
    return ready


async def _check(name: str, probe: Any) -> None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await probe
    except Exception as exc:  # any failure to answer is "not ready"; the reason is its kind
        raise Unavailable(f"{name} unavailable: {type(exc).__name__}") from exc


async def _ping_redis(url: str) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS, socket_timeout=CHECK_TIMEOUT_SECONDS
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


def _connect_broker(url: str) -> None:
    """Opens and closes one connection to the broker (redis:// or amqp://)."""
    from kombu.connection import Connection

    connection: Any = Connection  # kombu has no type hints
    with connection(url, connect_timeout=CHECK_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
