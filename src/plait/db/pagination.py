"""Keyset pagination: an opaque cursor names the last row seen; the next page starts after it.

Ordering is always (sort column, id), so ties are broken and rows inserted while a client
pages never make it see a row twice or skip a row that existed when it started.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from plait.db import ids
from plait.errors import FieldError, InvalidInput

SelectT = TypeVar("SelectT", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True)
class SortKey:
    column: InstrumentedAttribute[Any]
    id_column: InstrumentedAttribute[Any]
    descending: bool
    value_type: type  # what the cursor's value must be, so a forged cursor cannot reach SQL


def encode_cursor(sort: str, value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = {"dt": value.isoformat()}
    raw = json.dumps({"s": sort, "v": value, "i": row_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, key: SortKey) -> tuple[Any, int]:
    bad = InvalidInput([FieldError(("cursor",), "invalid cursor; start again without it")])
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        value, row_id = data["v"], data["i"]
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["dt"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise bad from exc
    if data.get("s") != sort:
        raise InvalidInput([FieldError(("cursor",), "this cursor belongs to another sort order")])
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not ids.in_range(row_id):
        raise bad
    if not isinstance(value, key.value_type) or isinstance(value, bool) or not _storable(value):
        raise bad
    return value, row_id


def _storable(value: Any) -> bool:
    """A value the database can compare: a forged cursor must fail here, not in SQL."""
    if isinstance(value, int):
        return ids.in_range(value)  # int sort keys are ids (INTEGER columns)
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return False
        try:
            value.astimezone(UTC)
        except OverflowError:
            return False
    return True


def after(key: SortKey, value: Any, row_id: int) -> ColumnElement[bool]:
    # The first term says nothing the OR does not, but it is a range the database can seek
    # to in the (column, id) index; with the OR alone PostgreSQL reads the index from the
    # top and filters, so a page deep in a long history read every row before it.
    if key.descending:
        tail = or_(key.column < value, and_(key.column == value, key.id_column < row_id))
        return and_(key.column <= value, tail)
    tail = or_(key.column > value, and_(key.column == value, key.id_column > row_id))
    return and_(key.column >= value, tail)


def order(query: SelectT, key: SortKey) -> SelectT:
    if key.descending:
        return query.order_by(key.column.desc(), key.id_column.desc())
    return query.order_by(key.column.asc(), key.id_column.asc())


SCAN = 500  # rows read at a time when a filter runs in Python


async def tagged(
    session: AsyncSession, query: Any, key: SortKey, wanted: int, tag: str | None
) -> list[Any]:
    """The first `wanted` rows of `query` in `key` order whose `tags` (a JSON list) hold
    `tag`: matched here, batch by batch, the same on both databases (no JSON operators)."""
    if tag is None:
        return list(await session.scalars(order(query, key).limit(wanted)))
    found: list[Any] = []
    while len(found) < wanted:
        batch = list(await session.scalars(order(query, key).limit(SCAN)))
        found += [row for row in batch if tag in row.tags]
        if len(batch) < SCAN:
            break
        last = batch[-1]
        query = query.where(after(key, getattr(last, key.column.key), last.id))
    return found[:wanted]
