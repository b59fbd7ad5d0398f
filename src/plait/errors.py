"""Domain exceptions. Each maps to one problem+json response in `plait.api.problems`.

PlaitError
 ├── InvalidInput        422  (carries field errors)
 ├── NotAuthenticated    401
 ├── PermissionDenied    403
 ├── NotFound            404
 ├── Conflict            409
 ├── PreconditionFailed  412  (carries the current version)
 ├── PayloadTooLarge     413
 └── Unavailable         503
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; `loc` is the path to it, e.g. ("tasks", 1, "code").

    `named` is the same path as a person reads it, when it differs: list items named by
    their key, ("tasks", "train", "code"). `field` shows it; `loc` keeps the indexes."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "invalid"
    named: tuple[str | int, ...] | None = None

    @property
    def field(self) -> str:
        out = ""
        for part in self.named or self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "loc": list(self.loc), "message": self.msg, "type": self.type}


def from_pydantic(errors: Iterable[Mapping[str, Any]], drop: str | None = None) -> list[FieldError]:
    """pydantic's (or FastAPI's) error dicts as FieldErrors; a location that starts with
    `drop` (FastAPI's "body") is given without it."""
    out = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if drop is not None and loc[:1] == (drop,):
            loc = loc[1:]
        out.append(FieldError(loc, str(err.get("msg", "invalid")), str(err.get("type", ""))))
    return out


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """ "; did you mean 'train'?" when one of `choices` is close to `name` (case aside),
    else ""."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


class PlaitError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


class InvalidInput(PlaitError):
    status = 422
    slug = "validation"
    title = "Invalid input"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        count = len(errors)
        summary = detail or f"{count} problem{'s' if count != 1 else ''} in the input"
        super().__init__(summary, errors=[e.as_dict() for e in errors])
        self.errors = errors


class NotAuthenticated(PlaitError):
    status = 401
    slug = "unauthenticated"
    title = "Not authenticated"


class PermissionDenied(PlaitError):
    status = 403
    slug = "forbidden"
    title = "Permission denied"


class NotFound(PlaitError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(PlaitError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PreconditionFailed(PlaitError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class PayloadTooLarge(PlaitError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class TooManyRequests(PlaitError):
    """Refused for now; `retry_after` (seconds) is sent as the Retry-After header too."""

    status = 429
    slug = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class Unavailable(PlaitError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"
