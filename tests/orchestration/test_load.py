"""Load that triggers runs must not fail the runs already in flight: while new runs pour in,
the scheduler still applies the reports of running and finished tasks, and never judges an
attempt lost because it was itself too busy to listen."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from plait.settings import Settings
from tests.conftest import Account
from tests.orchestration.test_engine import py, start, wait

TRIGGERS = 300  # bounded: a burst, not a duration
STEP = "import time, plait\ntime.sleep(0.4)\nplait.set_output('ok', True)"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Zombies judged after a second of silence: any report left waiting longer shows."""
    return settings.model_copy(update={"zombie_seconds": 1.0})


async def test_a_burst_of_triggers_fails_no_run_in_flight(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    chain = [py("a", STEP), py("b", STEP, "a"), py("c", STEP, "b"), py("d", STEP, "c")]
    steady = [await start(client, editor, chain, name=f"steady{i}") for i in range(3)]
    noise = await start(client, editor, [py("n", "pass")], name="noise")
    sent = 0

    async def trigger() -> None:
        nonlocal sent
        while sent < TRIGGERS:
            sent += 1
            url = "/api/v1/workflows/noise/runs"
            response = await client.post(url, json={}, headers=editor.headers)
            assert response.status_code == 201, response.text

    await asyncio.gather(*[trigger() for _ in range(8)])
    done = [await wait(client, editor, run["id"], within=120) for run in [*steady, noise]]

    errors = [a["error"] for run in done for t in run["tasks"] for a in t["attempts"]]
    assert [run["status"] for run in done] == ["succeeded"] * 4, errors
    assert errors == [None] * len(errors)
