"""How deep JSON may nest, wherever it comes in (request bodies, run params) or goes out.

Python's json module and pydantic recurse once per level: a document nested a few hundred
levels deep parses, is stored, and then fails every later read of it (a RecursionError, or
pydantic's recursion guard) with a 500. Nothing Plait stores needs more than a few levels,
so input deeper than `MAX_DEPTH` is refused, and what was stored before is cut on the way out.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 32
CUT = "(nested too deep)"  # what stands in for a value cut by `prune`

# A JSON string, escapes included (the unrolled form: linear time).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_OPENING = frozenset(b"[{")


def depth(value: Any) -> int:
    """How many arrays and objects nest in `value` (0 for a scalar); iterative, never recurses."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in children)
    return deepest


def text_too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests deeper than `limit`, found without parsing it."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case, at the speed of two C loops
    # Strings and everything but brackets go first, in C; only the brackets are walked.
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    level = 0
    for char in brackets:
        level += 1 if char in _OPENING else -1
        if level > limit:
            return True
    return False


def prune(value: Any, limit: int = MAX_DEPTH) -> Any:
    """`value` with whatever nests deeper than `limit` replaced by `CUT`: a stored value from
    before the limit existed still reads (and lists) instead of failing."""
    if depth(value) <= limit:
        return value
    return _cut(value, limit)


def _cut(value: Any, room: int) -> Any:
    if not isinstance(value, dict | list):
        return value
    if room <= 0:
        return CUT
    if isinstance(value, dict):
        return {k: _cut(v, room - 1) for k, v in value.items()}
    return [_cut(v, room - 1) for v in value]
