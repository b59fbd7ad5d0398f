"""Shared fixtures. Every test that takes `client` runs once on SQLite and once on the real
PostgreSQL server (PLAIT_TEST_DATABASES=sqlite or =postgresql narrows that for local work)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from plait.api.app import create_app
from plait.auth.passwords import hash_password
from plait.auth.tokens import issue_access_token
from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import Base, User
from plait.settings import Settings

PG_ADMIN_URL = os.environ.get("PLAIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = os.environ.get("PLAIT_TEST_DATABASES", "sqlite,postgresql").split(",")
ADMIN_PASSWORD = "admin-password-1"
SECRET = "test-signing-key-" + "x" * 32
USER_PASSWORD = "user-password-1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgresql` need that server: when PLAIT_TEST_DATABASES leaves it out
    (a local run narrowed to SQLite), they are deselected, never skipped."""
    if "postgresql" in DATABASES:
        return
    left_out = [item for item in items if item.get_closest_marker("postgresql")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


TABLES = [table.name for table in Base.metadata.sorted_tables]  # every table, always


def pg_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{database}"


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def new_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the real server, dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url(name)
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One PostgreSQL database for the session, migrated once; tests truncate it."""

    async def setup(url: str) -> None:
        db = Database(url)
        await migrate.upgrade(db)
        await db.dispose()

    with new_pg_database("plait_test") as url:
        asyncio.run(setup(url))
        yield url


async def _truncate(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        # Outside the data directory, in a folder of its own: the task sandbox hides both.
        (tmp_path / "db").mkdir(exist_ok=True)
        return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'plait.db'}"
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=SECRET,
        admin_password=ADMIN_PASSWORD,
        load_demo=False,
        tick_seconds=0.2,
        heartbeat_seconds=0.2,
        kill_grace_seconds=0.5,
        task_writable_paths=str(tmp_path),  # where tests and their tasks exchange files
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as c:
        yield c


@dataclass
class Account:
    id: int
    username: str
    role: str
    headers: dict[str, str]


_HASH: dict[str, str] = {}


async def make_user(app: FastAPI, username: str, role: str) -> Account:
    """A user straight in the database (hashing once per session keeps tests fast)."""
    if "hash" not in _HASH:
        _HASH["hash"] = hash_password(USER_PASSWORD)
    db: Database = app.state.plait.db
    async with db.write() as session:
        user = User(username=username, role=role, password_hash=_HASH["hash"], is_active=True)
        session.add(user)
        await session.flush()
    token, _ = issue_access_token(user, SECRET, 15)
    return Account(user.id, username, role, {"Authorization": f"Bearer {token}"})


@pytest.fixture
async def accounts(app: FastAPI) -> dict[str, Account]:
    """admin (the bootstrapped one), editor, other_editor, viewer."""
    async with app.state.plait.db.read() as session:
        from sqlalchemy import select

        admin = (await session.execute(select(User).where(User.username == "admin"))).scalar_one()
    admin_token, _ = issue_access_token(admin, SECRET, 15)
    return {
        "admin": Account(admin.id, "admin", "admin", {"Authorization": f"Bearer {admin_token}"}),
        "editor": await make_user(app, "ed", "editor"),
        "other_editor": await make_user(app, "ed2", "editor"),
        "viewer": await make_user(app, "vi", "viewer"),
    }


def workflow_doc(name: str = "train", **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "description": "train a model",
        "tags": ["ml"],
        "params": {"lr": {"type": "number", "default": 0.1, "minimum": 0, "maximum": 1}},
        "tasks": [
            {"key": "load", "kind": "python", "code": "print('load')"},
            {"key": "fit", "kind": "shell", "command": "echo fit", "depends_on": ["load"]},
        ],
    }
    doc.update(overrides)
    return doc
