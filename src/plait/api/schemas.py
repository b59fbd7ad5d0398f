"""Response shapes shared by several routers, and small request helpers."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plait.db import ids
from plait.errors import FieldError, InvalidInput

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
    total: int | None = Field(default=None, description="Row count; given with `offset` only.")


def _not_null_schema(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """The documented shape of a PATCH body: a field that may be left out but not set to
    null is not nullable in the schema either."""
    nullable: frozenset[str] = getattr(cls, "nullable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in nullable or not options:
            continue
        kept = [o for o in options if o.get("type") != "null"]
        prop.pop("anyOf")
        prop.pop("default", None)
        if len(kept) == 1:
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


class PatchBody(BaseModel):
    """A PATCH body: fields left out keep their values. Only the fields in `nullable` take
    null (meaning "remove"); null for any other is refused, not stored or ignored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_null_schema)
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _refuse_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            bad = [
                FieldError((k,), "may be left out, but not null", "null")
                for k, v in data.items()
                if v is None and k in cls.model_fields and k not in cls.nullable
            ]
            if bad:
                raise InvalidInput(bad)
        return data


class ProblemError(BaseModel):
    field: str = Field(description="Path to the field, e.g. tasks[1].code.")
    loc: list[str | int]
    message: str
    type: str


class ProblemDetails(BaseModel):
    """An error (RFC 9457), sent as application/problem+json."""

    model_config = ConfigDict(extra="allow", title="ProblemDetails")

    type: str = Field(description="A stable URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = Field(
        default=None, description="With 422: every problem with the input, by field."
    )


def parse_if_match(header: str | None) -> int | None:
    """The version an `If-Match` header names: 3, "3" or W/"3"; `*` or absent means any."""
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not ids.is_digits(value) or len(value) > 9:
        raise InvalidInput([FieldError(("header", "If-Match"), "expected a version number")])
    return int(value)


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}
