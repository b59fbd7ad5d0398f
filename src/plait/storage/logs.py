"""Where task output is kept: the attempt folder's output.log, or chunks in the database.

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

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import LogChunk
from plait.errors import Conflict
from plait.events import outbox
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


class DatabaseLogStore:
    """Chunks in the `log_chunks` table: any server on the database can read and follow a
    log that any worker wrote. Rows go when their run is deleted (foreign key cascade)."""

    name = "database"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(self, ref: AttemptLike, offset: int, data: bytes) -> int:
        try:
            async with self.db.write(notify=False) as session:
                size = await _stored_size(session, ref)
                if not _checked(size, offset, data):
                    return size
                for start in range(0, len(data), CHUNK_BYTES):
                    session.add(_chunk(ref, offset + start, data[start : start + CHUNK_BYTES]))
                return size + len(data)
        except IntegrityError:  # another writer appended at this offset meanwhile
            raise LogOffsetMismatch(await self.size(ref)) from None

    async def read(self, ref: AttemptLike, offset: int, size: int) -> bytes:
        if size <= 0:
            return b""
        end = offset + size
        async with self.db.read() as session:
            # The chunk holding `offset` starts at or before it: the last such, then onwards.
            first = await session.scalar(
                select(func.max(LogChunk.start)).where(*_of(ref), LogChunk.start <= offset)
            )
            query = select(LogChunk.start, LogChunk.data).where(*_of(ref), LogChunk.start < end)
            query = query.where(LogChunk.start >= (first or 0)).order_by(LogChunk.start)
            rows = (await session.execute(query)).all()
        data = b"".join(row.data for row in rows)
        base = rows[0].start if rows else 0
        return data[max(0, offset - base) : end - base]

    async def size(self, ref: AttemptLike) -> int:
        async with self.db.read() as session:
            return await _stored_size(session, ref)


def _of(ref: AttemptLike) -> tuple[ColumnElement[bool], ...]:
    return (
        LogChunk.run_id == ref.run_id,
        LogChunk.task_key == ref.task_key,
        LogChunk.attempt == ref.attempt,
    )


async def _stored_size(session: AsyncSession, ref: AttemptLike) -> int:
    last = (
        await session.execute(
            select(LogChunk.start, func.length(LogChunk.data))
            .where(*_of(ref))
            .order_by(LogChunk.start.desc())
            .limit(1)
        )
    ).first()
    return 0 if last is None else int(last[0]) + int(last[1])


def _chunk(ref: AttemptLike, start: int, data: bytes) -> LogChunk:
    return LogChunk(
        run_id=ref.run_id, task_key=ref.task_key, attempt=ref.attempt, start=start, data=data
    )


async def record_log(
    session: AsyncSession, store: LogStore, ref: AttemptLike, offset: int, text: str
) -> None:
    """Where a `log` report of the local executor is applied: with the database store, its
    text is appended to the log in the report's own transaction; the `log` event then says
    where new output starts (`offset`) and how long the log is now (`size`), never the text
    (clients read that from the store: the logs API and its live stream)."""
    if isinstance(store, DatabaseLogStore):
        data = text.encode()
        offset = await _stored_size(session, ref)
        for start in range(0, len(data), CHUNK_BYTES):
            session.add(_chunk(ref, offset + start, data[start : start + CHUNK_BYTES]))
        size = offset + len(data)
    else:
        size = max(offset, await store.size(ref))
    outbox.record(session, "log", run_id=ref.run_id, task_key=ref.task_key, attempt=ref.attempt,
                  offset=offset, size=size)  # fmt: skip
