"""The transition tables: what is allowed, what raises, and compare-and-set on the row."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy.orm.attributes import set_committed_value

from plait.db.models import Run, TaskAttempt
from plait.orchestration.states import (
    ATTEMPT_TRANSITIONS,
    RUN_TRANSITIONS,
    AttemptStatus,
    InvalidTransition,
    RunStatus,
    StaleState,
    transition,
)
from plait.workflows import store
from plait.workflows.spec import WorkflowSpec
from tests.conftest import Account, workflow_doc

A, R = AttemptStatus, RunStatus
ALLOWED_RUN = {
    (R.queued, R.running),
    (R.queued, R.cancelled),
    (R.running, R.succeeded),
    (R.running, R.failed),
    (R.running, R.cancelled),
    (R.failed, R.queued),
    (R.cancelled, R.queued),
}
ALLOWED_ATTEMPT = {
    (A.pending, A.queued),
    (A.pending, A.upstream_failed),
    (A.pending, A.skipped),
    (A.pending, A.cancelled),
    (A.queued, A.running),
    (A.queued, A.cancelled),
    (A.queued, A.failed),
    (A.queued, A.up_for_retry),
    (A.running, A.succeeded),
    (A.running, A.failed),
    (A.running, A.up_for_retry),
    (A.running, A.cancelled),
}


def test_the_tables_are_exactly_the_design() -> None:
    assert {(a, b) for a, nxt in RUN_TRANSITIONS.items() for b in nxt} == ALLOWED_RUN
    assert {(a, b) for a, nxt in ATTEMPT_TRANSITIONS.items() for b in nxt} == ALLOWED_ATTEMPT


async def make_rows(app: FastAPI, owner: Account) -> tuple[int, int]:
    from plait.auth.roles import Principal, Role
    from plait.orchestration.runs import create_run

    who = Principal(owner.id, owner.username, Role.admin)
    async with app.state.plait.db.write() as session:
        wf = await store.create(session, who, WorkflowSpec.model_validate(workflow_doc()))
        run = await create_run(session, wf, params={}, trigger="manual", who=who)
        await session.flush()
        attempt = (await session.execute(TaskAttempt.__table__.select().limit(1))).first()
        assert attempt is not None
        return run.id, attempt.id


@pytest.fixture
async def rows(app: FastAPI, accounts: dict[str, Account]) -> tuple[int, int]:
    # A stopped scheduler, so nothing but this test moves the rows.
    await app.state.plait.scheduler.stop()
    return await make_rows(app, accounts["admin"])


@pytest.mark.parametrize("new", list(R))
async def test_every_run_transition_from_queued(
    app: FastAPI, rows: tuple[int, int], new: RunStatus
) -> None:
    async with app.state.plait.db.write() as session:
        run = await session.get(Run, rows[0])
        assert run is not None
        if (R.queued, new) in ALLOWED_RUN:
            await transition(session, run, new)
            assert run.status == new
        else:
            with pytest.raises(InvalidTransition):
                await transition(session, run, new)


@pytest.mark.parametrize("new", list(A))
async def test_every_attempt_transition_from_pending(
    app: FastAPI, rows: tuple[int, int], new: AttemptStatus
) -> None:
    async with app.state.plait.db.write() as session:
        attempt = await session.get(TaskAttempt, rows[1])
        assert attempt is not None
        if (A.pending, new) in ALLOWED_ATTEMPT:
            await transition(session, attempt, new)
        else:
            with pytest.raises(InvalidTransition):
                await transition(session, attempt, new)


async def test_finished_attempts_never_move_again(app: FastAPI, rows: tuple[int, int]) -> None:
    async with app.state.plait.db.write() as session:
        attempt = await session.get(TaskAttempt, rows[1])
        assert attempt is not None
        for step in (A.queued, A.running, A.succeeded):
            await transition(session, attempt, step)
        assert attempt.started_at is not None and attempt.finished_at is not None
        for new in A:
            with pytest.raises(InvalidTransition):
                await transition(session, attempt, new)


async def test_a_row_moved_by_someone_else_is_stale(app: FastAPI, rows: tuple[int, int]) -> None:
    db = app.state.plait.db
    async with db.write() as session:
        attempt = await session.get(TaskAttempt, rows[1])
        assert attempt is not None
        await transition(session, attempt, A.queued)  # another scheduler's claim...
    async with db.write() as session:
        mine = await session.get(TaskAttempt, rows[1])
        assert mine is not None
        set_committed_value(mine, "status", A.pending)  # ...that this one has not seen
        with pytest.raises(StaleState):
            await transition(session, mine, A.queued)
