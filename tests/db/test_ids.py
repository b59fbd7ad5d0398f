"""An id, once handed out, is never handed out again: not after its row (the newest one) is
deleted, not after a restart, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import delete

from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import (
    ApiToken,
    AuditEvent,
    Base,
    Channel,
    Run,
    TaskAttempt,
    User,
    Workflow,
    WorkflowVersion,
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate.upgrade(database)
    yield database
    await database.dispose()


def _user(n: int) -> User:
    return User(username=f"u{n}", password_hash="h", role="admin", is_active=True)


async def _parents(db: Database) -> tuple[int, int]:
    """A user and a run (with its workflow) for rows that need them, created first so that
    the rows under test are the newest of their tables."""
    async with db.write() as session:
        user = _user(0)
        wf = Workflow(name="w", spec={"name": "w", "tasks": []})
        session.add_all([user, wf])
        await session.flush()
        session.add(WorkflowVersion(workflow_id=wf.id, version=1, spec={}, content_hash="x"))
        run = Run(workflow_id=wf.id, workflow_version=1, params={}, status="queued",
                  trigger="api")  # fmt: skip
        session.add(run)
        await session.flush()
        return user.id, run.id


ROWS: dict[str, Callable[[int, int, int], Base]] = {
    "users": lambda n, _user_id, _run_id: _user(n),
    "workflows": lambda n, _u, _r: Workflow(name=f"w{n}", spec={"name": f"w{n}", "tasks": []}),
    "runs": lambda n, _u, run_id: Run(
        workflow_id=1, workflow_version=1, params={}, status="queued", trigger=f"t{n}"
    ),
    "task_attempts": lambda n, _u, run_id: TaskAttempt(
        run_id=run_id, task_key=f"t{n}", status="pending", outputs={}
    ),
    "api_tokens": lambda n, user_id, _r: ApiToken(
        user_id=user_id, name="t", prefix="p", token_hash=f"h{n}"
    ),
    "channels": lambda n, _u, _r: Channel(name=f"c{n}", kind="webhook"),
    "audit_events": lambda n, _u, _r: AuditEvent(actor="x", action="a", target_type="t"),
}


@pytest.mark.parametrize("table", sorted(ROWS))
async def test_the_id_of_a_deleted_row_is_never_handed_out_again(db: Database, table: str) -> None:
    user_id, run_id = await _parents(db)
    make = ROWS[table]
    model: Any = type(make(0, user_id, run_id))

    async def add(n: int) -> int:
        async with db.write() as session:
            row = make(n, user_id, run_id)
            session.add(row)
            await session.flush()
            new_id: int = row.id  # type: ignore[attr-defined]
            return new_id

    first = await add(1)
    newest = await add(2)
    async with db.write() as session:
        await session.execute(delete(model).where(model.id == newest))
    after_delete = await add(3)
    await db.dispose()  # a restart forgets nothing either
    after_restart = await add(4)
    assert newest > first
    assert after_delete > newest
    assert after_restart > after_delete
