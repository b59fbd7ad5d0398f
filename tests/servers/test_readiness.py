"""/readyz checks what the process needs besides the database: the Celery broker when
tasks go through it, Redis when the bus does."""

from __future__ import annotations

import httpx
import pytest

from plait.api.app import create_app
from plait.settings import Settings
from tests.cli.conftest import free_port

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


async def readyz(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as c:
            return await c.get("/readyz")


@pytest.mark.parametrize("broker", [RABBITMQ, "redis://127.0.0.1:6379/0"])
async def test_a_reachable_broker_is_ready(settings: Settings, broker: str) -> None:
    api_only = settings.model_copy(
        update={"executor": "celery", "broker_url": broker, "scheduler": False}
    )
    ready = await readyz(api_only)
    assert ready.status_code == 200 and ready.json()["broker"] == "ok"


async def test_an_unreachable_broker_is_not_ready_and_its_address_stays_secret(
    settings: Settings,
) -> None:
    broker = f"amqp://guest:hunter2-secret@127.0.0.1:{free_port()}//"
    api_only = settings.model_copy(
        update={"executor": "celery", "broker_url": broker, "scheduler": False}
    )
    ready = await readyz(api_only)
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert "broker unavailable" in ready.json()["detail"]
    assert "hunter2" not in ready.text and "127.0.0.1" not in ready.text


async def test_the_local_executor_does_not_ask_for_a_broker(settings: Settings) -> None:
    unused = settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"})
    ready = await readyz(unused)
    assert ready.status_code == 200 and "broker" not in ready.json()
