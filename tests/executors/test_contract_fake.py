"""The executor contract, on the fake executor (tests/support/fake_executor.py)."""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from plait import services
from plait.api import app as app_module
from plait.settings import Settings
from tests.executors.contract import *  # noqa: F403 (the contract's tests, run here)
from tests.support.fake_executor import FakeExecutor


@pytest.fixture
async def app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    monkeypatch.setattr(services, "load_executor", lambda _name, s: FakeExecutor(s))
    application = app_module.create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
