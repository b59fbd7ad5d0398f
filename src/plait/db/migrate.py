"""Alembic, driven from code: `plait server` and `plait db` call these."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from plait.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    await _run(db, lambda conn: _with_conn(db, conn, "upgrade", revision))


async def downgrade(db: Database, revision: str) -> None:
    await _run(db, lambda conn: _with_conn(db, conn, "downgrade", revision))


async def current(db: Database) -> str | None:
    async with db.writer.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"migrations have {len(heads)} heads"
    return heads[0]


def _with_conn(db: Database, conn: Connection, action: str, revision: str) -> None:
    cfg = alembic_config(db.url)
    cfg.attributes["connection"] = conn
    getattr(command, action)(cfg, revision)


async def _run(db: Database, fn: Callable[[Connection], None]) -> None:
    async with db.writer.connect() as conn:
        if db.dialect != "sqlite":
            async with conn.begin():
                await conn.run_sync(fn)
            return
        # SQLite alters a table by copying it, dropping the old one and renaming the copy;
        # with foreign keys on, the drop deletes (cascades into) every row that refers to it.
        # The pragma only works outside a transaction, hence the driver connection.
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("PRAGMA foreign_keys=OFF")
        try:
            async with conn.begin():
                await conn.run_sync(fn)
                broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).first()
                if broken is not None:
                    raise RuntimeError(f"a migration broke a foreign key: {tuple(broken)}")
        finally:
            await raw.execute("PRAGMA foreign_keys=ON")
