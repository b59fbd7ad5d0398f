"""SQLite's planner statistics after an upgrade: an index added since the last ANALYZE gets
its statistics, so the planner does not prefer it on a guess (on a million runs that made
the runs list read every run: 10 s). SQLite only: PostgreSQL keeps statistics per column,
and autovacuum refreshes them; a new index there needs none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import User


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'plait.db'}")
    await migrate.upgrade(database)
    async with database.write() as session:
        session.add_all(
            User(username=f"user{n}", password_hash="h", role="viewer", is_active=True)
            for n in range(20)
        )
    yield database
    await database.dispose()


async def _sql(db: Database, query: str, **params: str) -> list[tuple[object, ...]]:
    async with db.write() as session:
        return [tuple(row) for row in await session.execute(text(query), params)]


async def _exec(db: Database, statement: str) -> None:
    async with db.write() as session:
        await session.execute(text(statement))


async def _indexes_with_statistics(db: Database, table: str) -> set[str]:
    rows = await _sql(db, "SELECT idx FROM sqlite_stat1 WHERE tbl = :t", t=table)
    return {str(idx) for (idx,) in rows if idx is not None}


async def _indexes(db: Database, table: str) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
    rows = await _sql(db, query, t=table)
    return {str(name) for (name,) in rows}


async def test_an_index_made_after_analyze_gets_statistics_at_the_next_upgrade(
    db: Database,
) -> None:
    await _exec(db, "ANALYZE")
    # What a migration that adds an index leaves: statistics for the table's other indexes.
    await _exec(db, "CREATE INDEX ix_users_test ON users (role, username)")
    assert "ix_users_test" not in await _indexes_with_statistics(db, "users")

    await migrate.upgrade(db)

    assert await _indexes_with_statistics(db, "users") == await _indexes(db, "users")
    assert "ix_users_test" in await _indexes(db, "users")
    assert await migrate.complete_statistics(db) == []  # nothing left to do the next time


async def test_a_database_never_analyzed_stays_so(db: Database) -> None:
    await _exec(db, "CREATE INDEX ix_users_test ON users (role, username)")

    await migrate.upgrade(db)

    tables = await _sql(db, "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
    assert tables == []
