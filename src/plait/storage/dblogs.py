"""The database log store (`PLAIT_LOG_STORE=database`): chunks in `log_chunks`, so any server
can serve and follow any attempt's log; and `record_log`, where a `log` report is applied."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import LogChunk
from plait.events import outbox
from plait.storage.logs import CHUNK_BYTES, AttemptLike, LogOffsetMismatch, LogStore, _checked


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
