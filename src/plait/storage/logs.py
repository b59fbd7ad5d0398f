"""Where task output is kept: the attempt folder's output.log, or chunks in the database
(`plait.storage.dblogs`, kept apart: a worker host has no database library).

A log is a sequence of bytes that only grows. `append` takes the offset the writer believes
the log ends at: equal to the stored size, the data is added; a retry of a chunk already
stored (it lies wholly before the end) is accepted and changes nothing; anything else is a
`LogOffsetMismatch` carrying the stored size, so a writer can resume from there.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from plait.errors import Conflict
from plait.executors.layout import log_path

# Bounded well below what a file system allows a seek to (ext4: 16 TiB); no log is that long.
MAX_OFFSET = 2**40
CHUNK_BYTES = 256 * 1024  # one row of log_chunks holds at most this much


class AttemptLike(Protocol):
    """What names an attempt's log: a TaskAttempt row, a Dispatch or an AttemptRef."""

    @property
    def run_id(self) -> int: ...
    @property
    def task_key(self) -> str: ...
    @property
    def attempt(self) -> int: ...


class LogOffsetMismatch(Conflict):
    slug = "log-offset-mismatch"

    def __init__(self, size: int) -> None:
        super().__init__(f"the log holds {size} bytes: append at offset {size}",
                         code=self.slug, size=size)  # fmt: skip
        self.size = size


@runtime_checkable
class LogStore(Protocol):
    name: str

    async def append(self, ref: AttemptLike, offset: int, data: bytes) -> int:
        """Adds `data` at `offset`; returns the size of the log after."""
        ...

    async def read(self, ref: AttemptLike, offset: int, size: int) -> bytes:
        """Up to `size` bytes from `offset` (fewer at the end; none past it)."""
        ...

    async def size(self, ref: AttemptLike) -> int: ...


def _checked(size: int, offset: int, data: bytes) -> bool:
    """Whether `data` is new (True) or a retry of what is stored (False); raises otherwise."""
    if offset == size:
        return True
    if offset < size and offset + len(data) <= size:
        return False
    raise LogOffsetMismatch(size)


class LocalLogStore:
    """The attempt folder's output.log under the data directory: the local executor's task
    writes it directly, so reading needs no copy. Only a server that shares that folder
    (the same machine) can serve it."""

    name = "local"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def path(self, ref: AttemptLike) -> Path:
        return log_path(self.data_dir, ref.run_id, ref.task_key, ref.attempt)

    async def append(self, ref: AttemptLike, offset: int, data: bytes) -> int:
        return await asyncio.to_thread(self._append, self.path(ref), offset, data)

    @staticmethod
    def _append(path: Path, offset: int, data: bytes) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            size = f.seek(0, os.SEEK_END)
            if _checked(size, offset, data):
                f.write(data)
                size += len(data)
        return size

    async def read(self, ref: AttemptLike, offset: int, size: int) -> bytes:
        return await asyncio.to_thread(_read_file, self.path(ref), offset, size)

    async def size(self, ref: AttemptLike) -> int:
        try:
            return (await asyncio.to_thread(self.path(ref).stat)).st_size
        except OSError:
            return 0


def _read_file(path: Path, offset: int, size: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(size)
    except OSError:  # none yet, or an offset past what the file system allows
        return b""
