"""The executor contract, on the fake executor (tests/support/fake_executor.py)."""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from plait import services
from plait.api import app as app_module
from plait.settings import Settings
from tests.executors.contract import (
    test_a_failure_is_retried_by_policy_then_fails_with_its_error,
    test_a_task_past_its_timeout_is_stopped_and_fails,
    test_cancel_stops_a_running_task,
    test_never_more_tasks_at_once_than_it_has_room_for,
    test_one_attempt_dispatched_twice_runs_once,
    test_records_reach_the_api_and_outputs_flow_downstream,
)
from tests.support.fake_executor import FakeExecutor


@pytest.fixture
async def app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    monkeypatch.setattr(services, "load_executor", lambda _name, s: FakeExecutor(s))
    application = app_module.create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


__all__ = [
    "test_a_failure_is_retried_by_policy_then_fails_with_its_error",
    "test_a_task_past_its_timeout_is_stopped_and_fails",
    "test_cancel_stops_a_running_task",
    "test_never_more_tasks_at_once_than_it_has_room_for",
    "test_one_attempt_dispatched_twice_runs_once",
    "test_records_reach_the_api_and_outputs_flow_downstream",
]
