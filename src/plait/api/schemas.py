"""Response shapes shared by several routers, and small request helpers."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from plait.errors import FieldError, InvalidInput

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
    total: int | None = Field(default=None, description="Row count; given with `offset` only.")


def parse_if_match(header: str | None) -> int | None:
    """The version an `If-Match` header names: 3, "3" or W/"3"; `*` or absent means any."""
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput([FieldError(("header", "If-Match"), "expected a version number")])
    return int(value)


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}
