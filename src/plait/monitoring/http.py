"""HTTP requests by route template, method and status, with their latency; WebSocket
connections counted (a connection's length says nothing about the server's speed).

Pure ASGI, on every request, so it stays cheap: the route template is read from the scope
after routing (the router writes the matched route there), the labelled children are cached
in a dict, and nothing is locked across an await.
"""

from __future__ import annotations

import time

from prometheus_client.metrics import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plait.monitoring import instruments

UNMATCHED = "unmatched"  # no route matched (a 404): the URL itself would be unbounded
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(scope: Scope) -> str:
    """The matched route's path (`/api/v1/runs/{run_id}`, a mount's `/static`)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._counted: dict[tuple[str, str, int], Counter] = {}
        self._timed: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the server answers when the app fails before a response

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            self._record(method, route_of(scope), status, time.perf_counter() - start)

    def _record(self, method: str, route: str, status: int, seconds: float) -> None:
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = instruments.http_requests.labels(method, route, str(status))
            self._counted[(method, route, status)] = counted
        counted.inc()
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[(method, route)] = instruments.http_duration.labels(method, route)
        timed.observe(seconds)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_seen(message: Message) -> None:
            if message["type"] == "websocket.accept":
                instruments.websocket_connections.labels(route_of(scope)).inc()
            await send(message)

        await self.app(scope, receive, send_seen)
