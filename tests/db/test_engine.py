"""The embedded database: WAL, foreign keys, and writers that queue instead of failing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import WorkflowTag


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        await migrate.upgrade(db)
        async with db.read() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        with pytest.raises(IntegrityError):
            async with db.write() as session:
                session.add(WorkflowTag(workflow_id=12345, tag="orphan"))
    finally:
        await db.dispose()


async def test_concurrent_sqlite_writers_all_commit(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE counter (n INTEGER)"))
            await session.execute(text("INSERT INTO counter VALUES (0)"))

        async def bump() -> None:
            async with db.write() as session:
                n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0)  # let the others try to interleave
                await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(bump() for _ in range(50)))
        async with db.read() as session:
            assert (await session.execute(text("SELECT n FROM counter"))).scalar() == 50
    finally:
        await db.dispose()
