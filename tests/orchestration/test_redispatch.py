"""A server that died between committing `queued` and sending the message leaves an attempt
that no broker holds: a scheduler starting up sends it again (the claim refuses duplicates)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from plait.api.app import create_app
from plait.db.models import TaskAttempt
from plait.orchestration.scheduler import Scheduler
from plait.orchestration.states import AttemptStatus, transition
from plait.settings import Settings
from tests.conftest import Account
from tests.orchestration.test_cron import RecordingExecutor
from tests.support.workflows import create_workflow


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    quiet = settings.model_copy(update={"scheduler": False})  # this test plays the scheduler
    application = create_app(quiet)
    async with application.router.lifespan_context(application):
        yield application


async def test_a_queued_attempt_no_broker_holds_is_sent_again_at_start(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    who = accounts["editor"]
    await create_workflow(client, who, name="lost", params={},
                          tasks=[{"key": "t", "kind": "shell", "command": "true"}])  # fmt: skip
    run = (await client.post("/api/v1/workflows/lost/runs", json={}, headers=who.headers)).json()
    db = app.state.plait.db
    async with db.write() as session:
        attempt = (await session.execute(select(TaskAttempt))).scalar_one()
        await transition(session, attempt, AttemptStatus.queued, worker="gone:1")
    executor = RecordingExecutor()  # like Celery's: no queued_timeout
    scheduler = Scheduler(db, app.state.plait.settings, executor)

    await scheduler.recover()

    assert [(j.attempt_id, j.run_id, j.body) for j in executor.submitted] == [
        (attempt.id, run["id"], "true")
    ]
