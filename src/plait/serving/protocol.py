"""Frames between the server and a serving process: a 4-byte big-endian length, then a
JSON object. Requests carry an `id` the answer repeats, so several can be in flight.

server → worker: first `{"init": {"columns", "sample", "input"}}`, then
`{"id": n, "rows": [[...], ...]}` (rows already checked, in the signature's input order).
worker → server: first `{"ready": true}` or `{"error": "..."}`, then
`{"id": n, "predictions": [...]}` or `{"id": n, "error": "..."}`.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    return HEADER.pack(len(body)) + body


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    """The next frame of a blocking stream, or None at its end."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes is over the limit")
    body = stream.read(size)
    if len(body) < size:
        return None
    message: dict[str, Any] = json.loads(body)
    return message
