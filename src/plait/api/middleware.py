"""Pure ASGI middleware: request ids with access logging, and the request body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plait import bounded
from plait.api.problems import problem
from plait.errors import FieldError, InvalidInput

log = logging.getLogger("plait.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Raw uploads of the execution API: not JSON, and bounded by their routes (a log chunk at
# 1 MiB, an artifact at limits.MAX_SIZE, streamed to its store), not by the body limit.
_RAW_UPLOAD = re.compile(r"^/api/v1/exec/attempts/[^/]+/(log|artifacts/[^/]+)$")


# Dataset uploads (multipart from people, raw bytes from workers) up to PLAIT_DATASET_MAX_BYTES
# (plus room for a form's other fields), streamed to the store by their routes; JSON to those
# routes keeps the body limit.
_DATASET_UPLOAD = re.compile(
    r"^/api/v1/(datasets/[^/]+/versions|exec/attempts/[^/]+/datasets/[^/]+)$"
)
FORM_OVERHEAD = 2 * 1024 * 1024


def upload_limits(settings: Any) -> tuple[tuple[re.Pattern[str], int], ...]:
    """The routes whose non-JSON bodies may exceed the body limit, with their own limits."""
    return ((_DATASET_UPLOAD, settings.dataset_max_bytes + FORM_OVERHEAD),)


class RequestContext:
    """Gives every request an id (kept from X-Request-ID when sane), echoes it, logs the line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            ms = (time.perf_counter() - start) * 1000
            log.info(
                "%s %s %d %.1fms id=%s", scope["method"], scope["path"], status, ms, request_id
            )


class BodyLimit:
    """Refuses bodies over `limit` bytes with 413 (by Content-Length or while streaming), and
    JSON bodies nested deeper than `bounded.MAX_DEPTH` with 422, before any route parses them:
    Python's json module recurses once per level and fails (a 500) a few hundred levels down."""

    def __init__(
        self, app: ASGIApp, limit: int, uploads: tuple[tuple[re.Pattern[str], int], ...] = ()
    ) -> None:
        self.app = app
        self.limit = limit
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _RAW_UPLOAD.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not _is_json(headers.get(b"content-type", b"")):
            for pattern, wider in self.uploads:
                if pattern.match(scope["path"]):
                    await BodyLimit(self.app, wider)(scope, receive, send)
                    return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(scope, receive, send)
            return
        if _is_json(headers.get(b"content-type", b"")):
            await self._whole_json(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # An HTTPException passes through FastAPI's body parsing to the 413 handler.
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited_receive, send)

    async def _whole_json(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body (at most `limit` bytes), check its depth, then hand it on."""
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
        body = b"".join(chunks)
        problem_found = _json_problem(body)
        if problem_found is not None:
            await _invalid_body(problem_found, scope, receive, send)
            return
        given = False

        async def replay() -> Message:
            nonlocal given
            if given:
                return await receive()
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _detail(self) -> str:
        return f"request body is larger than the limit of {self.limit} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Any = problem(413, "payload-too-large", "Payload too large", self._detail())
        await response(scope, receive, send)


def _is_json(content_type: bytes) -> bool:
    """What FastAPI parses as JSON: no content type, application/json or application/*+json."""
    media = content_type.split(b";")[0].strip().lower()
    return (
        not media
        or media == b"application/json"
        or (media.startswith(b"application/") and media.endswith(b"+json"))
    )


def _json_problem(body: bytes) -> FieldError | None:
    """What makes the body unreadable as JSON before parsing (FastAPI would answer 400 or,
    for deep nesting, fail), or None."""
    try:
        body.decode("utf-8")  # JSON between systems is UTF-8 (RFC 8259)
    except UnicodeDecodeError:
        return FieldError(("body",), "the body is not UTF-8 text", "json_invalid")
    if bounded.text_too_deep(body):
        return FieldError(("body",), f"JSON nested deeper than {bounded.MAX_DEPTH} levels", "depth")
    return None


async def _invalid_body(error: FieldError, scope: Scope, receive: Receive, send: Send) -> None:
    invalid = InvalidInput([error])
    response: Any = problem(invalid.status, invalid.slug, invalid.title, invalid.detail,
                            **invalid.extra)  # fmt: skip
    await response(scope, receive, send)
