"""Rows checked against a version's signature before any serving process is asked: each row
an object with exactly the signature's inputs, each value of its type. The rows come out as
lists in the signature's input order (what the serving process builds its array from)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from plait.errors import FieldError, InvalidInput

MAX_ERRORS = 20
NUMBERS = frozenset({"double", "float"})
INTEGERS = frozenset({"long", "int"})


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check(kind: str, value: Any) -> str | None:
    """Why `value` is not of signature type `kind`, or None when it is."""
    if kind in NUMBERS or kind in INTEGERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {_describe(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"expected a finite number, got {_describe(value)}"
        if kind in INTEGERS and isinstance(value, float) and not value.is_integer():
            return f"expected an integer, got {_describe(value)}"
        return None
    if kind == "bool":
        return (
            None if isinstance(value, bool) else f"expected true or false, got {_describe(value)}"
        )
    if kind == "string":
        return None if isinstance(value, str) else f"expected a string, got {_describe(value)}"
    return None  # a type this server does not know: the model decides


@dataclass(frozen=True)
class Validator:
    """One per deployment's serving version, built once: the predict path only runs it."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    max_batch: int

    @classmethod
    def of(cls, signature: dict[str, Any], max_batch: int) -> Validator:
        inputs = [i for i in signature.get("inputs") or [] if isinstance(i, dict)]
        return cls(
            tuple(str(i.get("name")) for i in inputs),
            tuple(str(i.get("type", "double")) for i in inputs),
            max_batch,
        )

    def rows(self, rows: Any) -> list[list[Any]]:
        """`rows` as lists in input order, or InvalidInput naming each field and row."""
        if not isinstance(rows, list):
            raise InvalidInput([FieldError(("rows",), "expected a list of objects", "type")])
        if not rows:
            raise InvalidInput([FieldError(("rows",), "give at least one row", "too_short")])
        if len(rows) > self.max_batch:
            raise InvalidInput(
                [
                    FieldError(
                        ("rows",),
                        f"at most {self.max_batch} rows per request "
                        f"(this deployment's max_batch), got {len(rows)}",
                        "too_long",
                    )
                ]
            )
        names, kinds = self.names, self.kinds
        out: list[list[Any]] = []
        errors: list[FieldError] = []
        known = set(names)
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                errors.append(FieldError(("rows", index), "expected an object", "type"))
            elif len(row) == len(names) and all(
                n in row and _check(k, row[n]) is None for n, k in zip(names, kinds, strict=True)
            ):
                out.append([row[n] for n in names])  # the common case: one pass, no errors
            else:
                errors += self._row_errors(index, row, known)
            if len(errors) >= MAX_ERRORS:
                break
        if errors:
            more = " (the first 20)" if len(errors) >= MAX_ERRORS else ""
            raise InvalidInput(errors[:MAX_ERRORS], _summary(errors) + more)
        return out

    def _row_errors(self, index: int, row: dict[str, Any], known: set[str]) -> list[FieldError]:
        errors = []
        for name, kind in zip(self.names, self.kinds, strict=True):
            if name not in row:
                errors.append(FieldError(("rows", index, name), "missing", "missing"))
            elif (why := _check(kind, row[name])) is not None:
                errors.append(FieldError(("rows", index, name), why, "type"))
        for name in row:
            if name not in known:
                errors.append(
                    FieldError(
                        ("rows", index, str(name)[:100]),
                        f"unknown column; the inputs are {', '.join(self.names)}",
                        "unknown",
                    )
                )
        return errors


def _summary(errors: list[FieldError]) -> str:
    count = len(errors)
    return f"{count} problem{'s' if count != 1 else ''} in the rows"
