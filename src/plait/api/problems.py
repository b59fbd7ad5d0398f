"""Every error leaves as application/problem+json (RFC 9457), mapped here and nowhere else."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from plait.api.openapi import flat_routes
from plait.errors import FieldError, InvalidInput, PlaitError

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


def field_errors(errors: list[Any], strip_body: bool) -> list[FieldError]:
    out = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if strip_body and loc[:1] == ("body",):
            loc = loc[1:]
        out.append(FieldError(loc, str(err.get("msg", "invalid")), str(err.get("type", ""))))
    return out


async def _plait_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PlaitError)
    response = problem(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)
    response.headers.update(exc.headers)
    return response


async def _request_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    invalid = InvalidInput(field_errors(list(exc.errors()), strip_body=True))
    return await _plait_error(_request, invalid)


async def _pydantic_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    invalid = InvalidInput(field_errors(list(exc.errors()), strip_body=False))
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
    first route that matched the path, though routes for other methods share it."""
    methods: set[str] = set()
    for route in flat_routes(request.app):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


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
    app.add_exception_handler(Exception, _unexpected)
