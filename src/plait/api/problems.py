"""Every error leaves as application/problem+json (RFC 9457), mapped here and nowhere else."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException

from plait.api.openapi import flat_routes
from plait.errors import InvalidInput, PlaitError, from_pydantic
from plait.ui.routes import SHELL_PATH
from plait.workflows.spec import keyed

log = logging.getLogger("plait.api")

PROBLEM_TYPE = "urn:plait:problem:"
_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": PROBLEM_TYPE + slug, "title": title, "status": status, "detail": detail}
    headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    return JSONResponse(
        {**body, **extra},
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


async def _plait_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PlaitError)
    response = problem(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)
    response.headers.update(exc.headers)
    return response


async def _request_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # A workflow document's tasks are named by key; other bodies have no `tasks` list.
    found = keyed(from_pydantic(exc.errors(), drop="body"), exc.body)
    return await _plait_error(_request, InvalidInput(found))


async def _pydantic_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    invalid = InvalidInput(from_pydantic(exc.errors()))
    return await _plait_error(_request, invalid)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    slug = _HTTP_SLUGS.get(exc.status_code, f"http-{exc.status_code}")
    title = slug.replace("-", " ").capitalize()
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return problem(exc.status_code, slug, title, str(exc.detail), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path. Starlette's own `Allow` names only the
    first route that matched the path, though routes for other methods share it. The UI's
    page shell, which takes every other path, counts only where no other route does."""
    methods: set[str] = set()
    shell: set[str] = set()
    for route in flat_routes(request.app):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            found = getattr(route, "methods", None) or set()
            (shell if getattr(route, "path", None) == SHELL_PATH else methods).update(found)
    return sorted(methods or shell)


RETRY_AFTER_SECONDS = 5


def _lost_dependency(exc: BaseException) -> str | None:
    """ "database" or "redis" when the error (or what caused it) is that dependency being
    unreachable or gone mid-request; None for anything else (a bug: 500)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.DBAPIError) and seen.connection_invalidated:
            return "database"
        if isinstance(seen, sa.OperationalError | sa.InterfaceError | sa.TimeoutError):
            return "database"  # refused, shutting down, dropped, or no pooled connection
        if type(seen).__module__.startswith("asyncpg") and "Connection" in type(seen).__name__:
            return "database"  # asyncpg's own, when SQLAlchemy did not wrap it
        if type(seen).__module__.startswith("redis") and isinstance(seen, _redis_errors()):
            return "redis"
        if isinstance(seen, ConnectionError | TimeoutError):
            return _raised_in(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _raised_in(exc: BaseException) -> str:
    """Which client a bare connection error (refused, reset) came from, by its traceback."""
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(("sqlalchemy", "asyncpg", "aiosqlite")):
            return "database"
        if module.startswith("redis"):
            return "redis"
        tb = tb.tb_next
    return "a service"


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis import exceptions

    return (exceptions.ConnectionError, exceptions.TimeoutError)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A dependency down is 503 (no traceback, no address); anything else stays a 500."""
    what = _lost_dependency(exc)
    if what is None:
        return await _unexpected(request, exc)
    log.warning("%s %s: %s unavailable (%s)", request.method, request.url.path, what,
                type(exc).__name__)  # fmt: skip
    return problem(
        503,
        "unavailable",
        "Service unavailable",
        f"{what} is unavailable for now; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = request.scope.get("state", {}).get("request_id", "")
    log.exception(
        "unhandled error in %s %s (request %s)", request.method, request.url.path, request_id
    )
    return problem(
        500,
        "internal",
        "Internal error",
        f"an unexpected error occurred; quote request id {request_id} when reporting it",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(PlaitError, _plait_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _pydantic_validation)
    app.add_exception_handler(HTTPException, _http_error)
    # Registered by class, so the middleware that handles them does not re-raise them (an
    # outage is logged once, as a warning, not as a traceback per request).
    for kind in (sa.SQLAlchemyError, OSError, *_redis_errors()):
        app.add_exception_handler(kind, _unavailable)
    app.add_exception_handler(Exception, _unavailable)
