"""JSON Pointer (RFC 6901): "/a/0/b" names a value inside a JSON document.

Small enough to write here: the whole standard is the escapes `~0` (~) and `~1` (/) and
array indexes without leading zeros.
"""

from __future__ import annotations

import re
from typing import Any

_ESCAPE = re.compile(r"~(?![01])")  # a "~" that is not the start of an escape
_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")


class PointerError(ValueError):
    pass


def pointer_error(pointer: str) -> str | None:
    """Why `pointer` is not a JSON pointer, or None when it is one."""
    if pointer and not pointer.startswith("/"):
        return "a JSON pointer is empty (the whole document) or starts with '/'"
    if _ESCAPE.search(pointer):
        return "'~' must be written ~0, and '/' inside a name ~1"
    return None


def resolve(document: Any, pointer: str) -> Any:
    """The value `pointer` names in `document`; PointerError when there is none."""
    if error := pointer_error(pointer):
        raise PointerError(error)
    value = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and _INDEX.match(token) and int(token) < len(value):
            value = value[int(token)]
        else:
            raise PointerError(f"nothing at {pointer!r}")
    return value
