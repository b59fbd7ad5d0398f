"""A real uvicorn server in the test's event loop, for the WebSocket metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn

from plait.api.app import create_app
from plait.settings import Settings
from tests.cli.conftest import free_port


@pytest.fixture
async def live_url(settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", ws="websockets-sansio")  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 15)
