"""A deployment's traffic on /metrics: requests by outcome, rows and latency, labelled with
the deployment's name."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Account
from tests.serving.conftest import deploy, predict, wait_for
from tests.support.scrape import moved, scrape
from tests.support.serving import add_version, rows, train


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: serving counts in memory, and a deployment takes seconds to start."""
    (tmp_path / "db").mkdir()
    return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'plait.db'}"


async def test_predictions_and_refusals_move_the_serving_metrics(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await add_version(app, train())
    await deploy(client, accounts["editor"], version=1)
    await wait_for(client, accounts["viewer"], "iris-api", "serving")
    admin = accounts["admin"].headers
    before = await scrape(client, admin)
    assert (await predict(client, accounts["viewer"], "iris-api", rows(150))).status_code == 200
    refused = await predict(client, accounts["viewer"], "iris-api", [{"nope": 1}])
    assert refused.status_code == 422, refused.text
    after = await scrape(client, admin)
    name = {"deployment": "iris-api"}
    assert moved(before, after, "plait_serving_requests_total", **name, outcome="ok") == 1
    assert moved(before, after, "plait_serving_requests_total", **name, outcome="error") == 1
    assert moved(before, after, "plait_serving_rows_total", **name) == 150
    assert moved(before, after, "plait_serving_latency_seconds_count", **name) == 1
    assert moved(before, after, "plait_serving_latency_seconds_sum", **name) > 0
