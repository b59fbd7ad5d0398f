"""The bus carries committed events to every server process's subscribers: in memory for
the embedded server, over Redis pub/sub when PLAIT_REDIS_URL is set (so several server
processes see each other's events)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("plait.bus")
Message = dict[str, Any]
Listener = Callable[[list[Message]], None]
CatchUp = Callable[[int], Awaitable[list[Message]]]
CHANNEL = "plait:events"
RECONNECT_SECONDS = 1.0


class Bus(Protocol):
    def listen(self, listener: Listener) -> None: ...
    async def publish(self, messages: list[Message]) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class MemoryBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, messages: list[Message]) -> None:
        for listener in self._listeners:
            listener(messages)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisBus(MemoryBus):
    """Publishes to a Redis channel; every process (this one too) hears it from Redis."""

    def __init__(self, url: str, channel: str) -> None:
        super().__init__()
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5)
        from redis import exceptions

        self._lost: tuple[type[Exception], ...] = (
            OSError,
            exceptions.ConnectionError,
            exceptions.TimeoutError,
        )
        self._channel = channel
        self._task: asyncio.Task[None] | None = None
        # What was published while this process was not subscribed, by id (the outbox's
        # published events after that id); set by whoever owns the database.
        self.catch_up: CatchUp | None = None
        self._last_id = 0
        self._replayed: set[int] = set()

    async def publish(self, messages: list[Message]) -> None:
        await self._redis.publish(self._channel, json.dumps(messages))

    async def start(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._channel)
        self._task = asyncio.create_task(self._relay(pubsub), name="plait-bus")

    async def _relay(self, pubsub: Any) -> None:
        """Hands what Redis brings to the listeners; when Redis goes away, subscribes again
        once it is back (what was published meanwhile waits in the outbox)."""
        while True:
            try:
                async for item in pubsub.listen():
                    if item.get("type") == "message":
                        await self._deliver(json.loads(item["data"]))
            except self._lost as exc:
                log.warning("event bus lost Redis (%s); reconnecting", type(exc).__name__)
                pubsub = await self._resubscribe(pubsub)

    async def _resubscribe(self, old: Any) -> Any:
        with contextlib.suppress(Exception):
            await old.aclose()
        while True:
            await asyncio.sleep(RECONNECT_SECONDS)
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
            except self._lost:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                continue
            log.info("event bus reconnected to Redis")
            await self._catch_up()
            return pubsub

    async def _deliver(self, messages: list[Message]) -> None:
        fresh = [m for m in messages if m.get("id") not in self._replayed]
        self._replayed.difference_update(m.get("id") for m in messages)
        self._last_id = max([self._last_id, *(m.get("id") or 0 for m in fresh)])
        if fresh:
            await super().publish(fresh)

    async def _catch_up(self) -> None:
        """Delivers what was published while the subscription was down (once: if Redis
        brings it too, it is dropped then)."""
        if self.catch_up is None or not self._last_id:
            return  # nothing heard yet: no point to start from
        try:
            missed = await self.catch_up(self._last_id)
        except Exception:  # the database may be down too: live events missed, not state
            log.warning("could not catch up on the events missed while Redis was away")
            return
        self._replayed = {m["id"] for m in missed}
        if missed:
            self._last_id = max(self._last_id, *self._replayed)
            await super().publish(missed)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()


def make_bus(redis_url: str | None, database_url: str) -> Bus:
    """Servers share a channel when they share a database, and only then: event ids are the
    database's, so two installations on one Redis must not hear each other."""
    if not redis_url:
        return MemoryBus()
    scope = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return RedisBus(redis_url, f"{CHANNEL}:{scope}")
