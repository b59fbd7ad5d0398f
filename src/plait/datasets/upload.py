"""An upload read as it arrives: a multipart/form-data body parsed by python-multipart's
streaming parser, its one file part passed on chunk by chunk (never whole in memory), hashed
(sha256) and counted on the way, its text fields collected (small, bounded).

`Upload.file_chunks` is what the artifact store consumes. Its checks that need the whole
body (a file was sent, the size, the client's checksum) run after the last byte and before
the generator ends, so a failed check is an error *inside* the store's write: the store
keeps nothing, as it keeps nothing when the client goes away midway.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:  # defined for type checkers only
    from python_multipart.multipart import MultipartCallbacks

from plait.errors import FieldError, InvalidInput, PayloadTooLarge

MAX_FIELDS = 20
MAX_FIELD_BYTES = 64 * 1024
HEAD_BYTES = 64 * 1024  # kept to read a CSV's header


def _invalid(field_name: str, message: str) -> InvalidInput:
    return InvalidInput([FieldError(("body", field_name), message)])


@dataclass
class Upload:
    boundary: bytes
    limit: int
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    size: int = 0
    head: bytearray = field(default_factory=bytearray)
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    _part_headers: dict[bytes, bytes] = field(default_factory=dict)
    _header: list[bytes] = field(default_factory=lambda: [b"", b""])
    _current: str | None = None  # name of the text field being read, or "" for the file
    _text: bytearray = field(default_factory=bytearray)
    _out: list[bytes] = field(default_factory=list)
    _files: int = 0
    _ended: bool = False  # the closing boundary was read: the body is whole

    @classmethod
    def of(cls, content_type: str, limit: int) -> Upload:
        media, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if media != b"multipart/form-data" or not boundary:
            raise _invalid("file", "send multipart/form-data with a `file` part")
        return cls(boundary, limit)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def file_chunks(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        parser = MultipartParser(self.boundary, self._callbacks())
        async for chunk in body:
            parser.write(chunk)
            for piece in self._drain():
                yield piece
        parser.finalize()
        for piece in self._drain():
            yield piece
        self._check_whole()

    def _drain(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def _callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header.__setitem__(
                0, self._header[0] + d[s:e]
            ),
            "on_header_value": lambda d, s, e: self._header.__setitem__(
                1, self._header[1] + d[s:e]
            ),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": lambda: setattr(self, "_ended", True),
        }

    def _part_begin(self) -> None:
        self._part_headers, self._text = {}, bytearray()

    def _header_end(self) -> None:
        self._part_headers[self._header[0].lower()] = self._header[1]
        self._header = [b"", b""]

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._part_headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options or name == "file":
            if name != "file" or self._files:
                raise _invalid("file", "send one file, in the part named `file`")
            self._files += 1
            self.filename = options.get(b"filename", b"").decode("utf-8", "replace")
            self._current = ""
        else:
            if len(self.fields) >= MAX_FIELDS:
                raise _invalid(name or "body", f"at most {MAX_FIELDS} form fields")
            self._current = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._current == "":
            self.size += len(piece)
            if self.size > self.limit:
                raise PayloadTooLarge(f"a dataset file holds at most {self.limit} bytes")
            self._hash.update(piece)
            if len(self.head) < HEAD_BYTES:
                self.head += piece[: HEAD_BYTES - len(self.head)]
            self._out.append(piece)
        else:
            self._text += piece
            if len(self._text) > MAX_FIELD_BYTES:
                raise _invalid(self._current or "body", f"at most {MAX_FIELD_BYTES} bytes")

    def _part_end(self) -> None:
        if self._current:
            try:
                self.fields[self._current] = self._text.decode("utf-8")
            except UnicodeDecodeError:
                raise _invalid(self._current, "is not UTF-8 text") from None
        self._current = None

    def _check_whole(self) -> None:
        if not self._ended:  # the parser does not check it itself
            raise _invalid("file", "the body ends before the form's closing boundary: cut off")
        if not self._files:
            raise _invalid("file", "required: the file of the new version")
        given = self.fields.get("checksum", "").strip().lower().removeprefix("sha256:")
        if given and given != self.sha256:
            raise _invalid(
                "checksum", f"the file's sha256 is {self.sha256}, not {given}; nothing was kept"
            )


def csv_columns(filename: str, head: bytes) -> list[str] | None:
    """A CSV's column names, read from its header line (None for another file, or an
    unreadable header)."""
    if not filename.lower().endswith(".csv"):
        return None
    first = head.split(b"\n", 1)[0].decode("utf-8-sig", "replace").rstrip("\r")
    try:
        row = next(csv.reader(io.StringIO(first)), [])
    except csv.Error:
        return None
    return [name.strip() for name in row][:1000] or None
