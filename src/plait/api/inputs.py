"""Strict types for what clients put in paths, queries and headers: ids, workflow refs,
versions and instants. Each is checked once here and documented by the schema it gives.

pydantic's lax int takes " 1", "+1", "1_0" and "1.0"; its datetime takes a number of
seconds. Ids are ASCII digits within the id columns' range, instants are ISO 8601 text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

from fastapi import Header, Path, Query
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from plait.db import ids
from plait.errors import FieldError, InvalidInput

# A workflow's id (ASCII digits) or its name (a letter first): anything else names none.
REF_PATTERN = r"^(?:[0-9]+|[A-Za-z][A-Za-z0-9_-]*)$"
# An If-Match value: `*`, a version number, or an (optionally weak) quoted one.
IF_MATCH_PATTERN = r'^(?:\*|(?:W/)?"[0-9]{1,9}"|[0-9]{1,9})$'
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def ascii_id(value: Any) -> Any:
    # Paths and queries arrive as text; only plain ASCII digits may become an id.
    if isinstance(value, str) and not ids.is_digits(value):
        raise ValueError("expected an id (ASCII digits)")
    return value


def ascii_number(value: Any) -> Any:
    if isinstance(value, str) and not ids.is_digits(value):
        raise ValueError("expected a number (ASCII digits)")
    return value


Digits = BeforeValidator(ascii_number)  # for counts, versions and offsets given as text


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 date-time with an offset, e.g. 2024-05-01T12:00Z")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +01:00 or 9999 at -01:00 has no UTC time
        raise ValueError("date-time out of range") from None


_ID_RANGE = {"ge": 1, "le": ids.MAX_ID}
IdPath = Annotated[int, Path(**_ID_RANGE), BeforeValidator(ascii_id)]
IdQuery = Annotated[int | None, Query(**_ID_RANGE), BeforeValidator(ascii_id)]
IdField = Annotated[int, Field(strict=True, **_ID_RANGE)]  # in a JSON body: a number
RefPath = Annotated[
    str, Path(max_length=100, pattern=REF_PATTERN, description="Workflow id or name.")
]
RefQuery = Annotated[
    str | None, Query(max_length=100, pattern=REF_PATTERN, description="Workflow id or name.")
]
IfMatch = Annotated[
    str | None,
    Header(
        max_length=100,
        pattern=IF_MATCH_PATTERN,
        description='The version you read (ETag): 3, "3" or W/"3"; refused with 412 if the '
        "workflow changed since.",
    ),
]
Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_utc)]


def run_ids(text: str, *, at_least: int = 1, at_most: int) -> list[int]:
    """The run ids of a query's `ids=1,2,3`: distinct, in the order given. Anything but ids
    separated by commas, or a count of distinct ids out of [at_least, at_most], is a 422
    naming `ids`."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    parsed = [ids.parse_id(part) for part in parts]
    if not parts or None in parsed:
        _refuse_ids("give run ids separated by commas, e.g. ids=1,2,3")
    distinct = list(dict.fromkeys(run_id for run_id in parsed if run_id is not None))
    if len(distinct) > at_most:
        _refuse_ids(f"at most {at_most} run ids at once; {len(distinct)} were given")
    if len(distinct) < at_least:
        _refuse_ids(f"at least {at_least} different run ids; {len(distinct)} were given")
    return distinct


def _refuse_ids(message: str) -> NoReturn:
    raise InvalidInput([FieldError(("query", "ids"), message)])
