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
    if db.dialect == "sqlite":
        await complete_statistics(db)


# Tables with planner statistics (sqlite_stat1 rows) for some of their indexes but not all:
# an index made after the last ANALYZE (a migration's) gets SQLite's default guess, about ten
# rows per key, and on a million runs the planner then prefers it to the one that serves the
# query (the runs list read every run and sorted them: 10 s instead of 0.1 ms).
_PARTIAL_STATISTICS = """
SELECT DISTINCT m.tbl_name FROM sqlite_master m
WHERE m.type = 'index' AND m.tbl_name IN (SELECT tbl FROM sqlite_stat1)
  AND m.name NOT IN (SELECT idx FROM sqlite_stat1 WHERE idx IS NOT NULL)
ORDER BY m.tbl_name
"""


async def complete_statistics(db: Database) -> list[str]:
    """ANALYZE the tables whose statistics miss some of their indexes; returns their names.

    A database never analyzed is left so (SQLite's defaults plan every hot query well, and
    ANALYZE reads every index: seconds at a million runs); one analyzed (by an operator or
    seed_runs.py) keeps complete statistics. Whole tables: a sampled ANALYZE
    (analysis_limit) misjudges how many runs a workflow has and picks a bad plan too.
    """
    async with db.writer.connect() as conn:
        present = await conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
        )
        if present.first() is None:
            return []
        tables = [row[0] for row in await conn.exec_driver_sql(_PARTIAL_STATISTICS)]
        for table in tables:
            await conn.exec_driver_sql(f'ANALYZE "{table}"')  # names from sqlite_master
        await conn.commit()
    return tables


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
