"""The bus carries committed events to every server process's subscribers: in memory for
the embedded server, over Redis pub/sub when PLAIT_REDIS_URL is set (so several server
processes see each other's events)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("plait.bus")
Message = dict[str, Any]
Listener = Callable[[list[Message]], None]
CHANNEL = "plait:events"


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

        self._redis = redis.Redis.from_url(url)
        self._channel = channel
        self._task: asyncio.Task[None] | None = None

    async def publish(self, messages: list[Message]) -> None:
        await self._redis.publish(self._channel, json.dumps(messages))

    async def start(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._channel)
        self._task = asyncio.create_task(self._relay(pubsub))

    async def _relay(self, pubsub: Any) -> None:
        async for item in pubsub.listen():
            if item.get("type") == "message":
                await super().publish(json.loads(item["data"]))

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
