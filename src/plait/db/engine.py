"""The database handle: engines and sessions, built by the app factory (never at import).

SQLite allows one writer at a time. Write transactions therefore run on their own engine
with a single connection and `BEGIN IMMEDIATE`, so writers queue in-process instead of
failing with "database is locked"; reads run on a separate pool in WAL mode and never wait
for writers. On PostgreSQL both names share one pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from plait.monitoring import pool

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=15000",
    "PRAGMA synchronous=NORMAL",
)


def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> AsyncEngine:
    # No reset on return: sessions always end their transaction (commit or rollback) first,
    # and the extra ROLLBACK would cost a thread hop per transaction.
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_timeout=60, pool_reset_on_return=None
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
            self.reader = _sqlite_engine(url, begin="BEGIN", pool_size=8)
        else:
            self.writer = self.reader = create_async_engine(
                url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
        shared = self.reader is self.writer
        self._unwatch = [pool.watch(self.writer, "shared" if shared else "writer")]
        self._unwatch += [] if shared else [pool.watch(self.reader, "reader")]
        self._write = async_sessionmaker(self.writer, expire_on_commit=False)
        self.after_write: Callable[[], None] | None = None
        self._read = async_sessionmaker(self.reader, expire_on_commit=False)

    @asynccontextmanager
    async def write(self, notify: bool = True) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction, committed when the block ends without error.
        After the commit, `after_write` (the event dispatcher) hears of it."""
        async with self._write() as session, session.begin():
            yield session
        if notify and self.after_write is not None:
            self.after_write()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch = []
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
