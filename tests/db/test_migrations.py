"""Migrations: one head, the schema they build equals the models, and they go down and up
again with data in place, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import Base, User


def test_a_single_head() -> None:
    heads = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads()
    assert heads == [migrate.head()]


@pytest.fixture
async def db(database_url: str) -> Any:
    database = Database(database_url)
    if database.dialect == "postgresql":
        await migrate.downgrade(database, "base")  # the session database starts at head
    yield database
    await migrate.upgrade(database)
    await database.dispose()


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    await migrate.upgrade(db)

    def differences(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    async with db.writer.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_down_and_up_again_with_data_in_place(db: Database) -> None:
    await migrate.upgrade(db)
    async with db.write() as session:
        session.add(User(username="u", password_hash="h", role="viewer", is_active=True))
    await migrate.downgrade(db, "0002")  # drops workflows; users stay
    assert await migrate.current(db) == "0002"
    async with db.read() as session:
        assert (await session.execute(text("SELECT username FROM users"))).scalar() == "u"
    await migrate.upgrade(db)
    assert await migrate.current(db) == migrate.head()
    await migrate.downgrade(db, "base")
    assert await migrate.current(db) is None


async def _sql(db: Database, query: str, **params: Any) -> Any:
    async with db.write() as session:
        return (await session.execute(text(query), params)).all()


NOW = datetime(2026, 1, 1, tzinfo=UTC)
ADD_USER = (
    "INSERT INTO users (username, password_hash, role, is_active, created_at, updated_at) "
    "VALUES (:name, 'h', 'admin', true, :now, :now) RETURNING id"
)
ADD_TOKEN = (
    "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at) "
    "VALUES (:user, 'n', 'p', 'h', :now) RETURNING id"
)
ADD_AUDIT = (
    "INSERT INTO audit_events (created_at, actor, action, target_type, target_id, summary) "
    "VALUES (:now, 'a', 'user.delete', 'user', :target, '{}') RETURNING id"
)


async def test_upgrading_keeps_every_row_and_never_hands_out_a_known_id_again(
    db: Database,
) -> None:
    """From 0005 with data: rows that refer to a rebuilt table all stay, and neither the
    newest id still there nor a deleted one the audit log still names comes back."""
    await migrate.upgrade(db, "0005")
    now = NOW.replace(tzinfo=None) if db.dialect == "sqlite" else NOW
    ids = [(await _sql(db, ADD_USER, name=f"u{n}", now=now))[0][0] for n in range(3)]
    await _sql(db, ADD_TOKEN, user=ids[1], now=now)
    named = ids[2] + 5  # an account deleted long ago, known from the audit log only
    await _sql(db, ADD_AUDIT, target=str(named), now=now)
    await _sql(db, "DELETE FROM users WHERE id = :id RETURNING id", id=ids[2])

    await migrate.upgrade(db)

    assert await _sql(db, "SELECT user_id FROM api_tokens") == [(ids[1],)]
    async with db.write() as session:
        session.add(User(username="new", password_hash="h", role="viewer", is_active=True))
    new_id = (await _sql(db, "SELECT id FROM users WHERE username = 'new'"))[0][0]
    assert new_id > ids[2]
    if db.dialect == "sqlite":  # on PostgreSQL no id above the sequence was ever handed out
        assert new_id > named


async def test_every_table_with_an_integer_id_has_autoincrement_on_sqlite(db: Database) -> None:
    """A later migration that rebuilds a table in batch mode must keep AUTOINCREMENT."""
    if db.dialect != "sqlite":
        return  # PostgreSQL sequences never go back
    await migrate.upgrade(db)
    rows = await _sql(db, "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
    tables = {name: sql for name, sql in rows}
    for table in Base.metadata.sorted_tables:
        if [c.name for c in table.primary_key.columns] == ["id"]:
            assert "AUTOINCREMENT" in tables[table.name], table.name
