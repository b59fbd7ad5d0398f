"""Migrations: one head, the schema they build equals the models, and they go down and up
again with data in place, on SQLite and PostgreSQL."""

from __future__ import annotations

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
