"""Ids as clients write them: ASCII digits naming a row within the id columns' range.

`str.isdigit()` and `int()` accept any Unicode digit: an Arabic-Indic one reads as 1, a
superscript one passes isdigit() and then fails int(). And the id columns are INTEGER (int4
on PostgreSQL): a larger number fails in the database instead of finding nothing. Every id
given as text goes through here.
"""

from __future__ import annotations

import re

MAX_ID = 2**31 - 1  # the largest value of an INTEGER id column on PostgreSQL and SQLite alike
_ASCII_DIGITS = re.compile(r"[0-9]+")  # not \d: in a str pattern that matches any digit


def is_digits(text: str) -> bool:
    """Only ASCII digits: text that reads as an id, never as a name or a username."""
    return _ASCII_DIGITS.fullmatch(text) is not None


def parse_id(text: str) -> int | None:
    """The id `text` names, or None when it names no row (not digits, zero, out of range)."""
    if not is_digits(text) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def in_range(value: int) -> bool:
    """Whether an id that is already a number can name a row (so is safe to compare in SQL)."""
    return 1 <= value <= MAX_ID
