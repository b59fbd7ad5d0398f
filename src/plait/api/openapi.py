"""The OpenAPI document, made to say what the API really answers.

FastAPI documents a 422 of its own shape on every operation and no other error. Here every
operation lists the errors it can give, each a `ProblemDetails` under application/problem+json
(what `plait.api.problems` sends): 401 where a caller must authenticate, 403 where a role is
needed, 404 where a path names something, 412 with If-Match, 413 with a body, 422 with any
input. Errors only some operations give (409, 503, a 401 of their own) they declare with
`errors(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi

from plait.api.schemas import ProblemDetails

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
MEANING = {
    401: "Not authenticated: no token, or a token that is expired, revoked or unknown.",
    403: "Authenticated, but this needs another role or ownership.",
    404: "Nothing by that id or name.",
    409: "Conflicts with the current state (a name taken, a run already finished, ...).",
    412: "If-Match names a version that is no longer current.",
    413: "The request body is over the size limit.",
    422: "Invalid input; `errors` names each field at fault.",
    429: "Too many attempts; `Retry-After` says when to try again.",
    503: "A service this needs is unavailable.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose errors go beyond those inferred from its signature."""
    return {code: {"description": MEANING[code]} for code in codes}


def flat_routes(app: FastAPI) -> list[Any]:
    """Every route with its full path: newer FastAPI keeps included routers nested."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(iterate(app.routes)) if iterate is not None else list(app.routes)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def inferred(route: Any) -> set[int]:
    """The error answers the route's signature makes possible."""
    found = list(_dependants(route.dependant))
    names = {getattr(d.call, "__name__", "") for d in found}
    codes: set[int] = set()
    if "authenticate" in names:
        codes.add(401)
    if {"require_editor", "require_admin", "require_worker"} & names:
        codes.add(403)
    if route.dependant.path_params:
        codes |= {404, 422}
    if any(p.alias.lower() == "if-match" for d in found for p in d.header_params):
        codes.add(412)
    if any(d.body_params for d in found) or route.openapi_extra:
        codes |= {413, 422}
    if any(d.query_params or d.header_params or d.path_params for d in found):
        codes.add(422)
    return codes


def _problem_response(code: int, given: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "description": (given or {}).get("description") or MEANING.get(code, "Error."),
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }


def _document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["ProblemDetails"] = problem
    for route in flat_routes(app):
        if not getattr(route, "include_in_schema", False):
            continue  # not an HTTP API route: docs pages, static files, WebSockets
        if not isinstance(getattr(route, "dependant", None), Dependant):
            continue
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            responses = operation["responses"]
            declared = {int(c) for c in responses if c.isdigit() and int(c) >= 400}
            for code in sorted(inferred(route) | declared):
                responses[str(code)] = _problem_response(code, responses.get(str(code)))
    return schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
