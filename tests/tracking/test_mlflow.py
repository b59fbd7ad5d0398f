"""Runs forwarded to a real MLflow server, read back with the MLflow client."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from plait.settings import Settings
from tests.conftest import Account
from tests.tracking.conftest import MlflowServer, db_kind, mlflow_runs, tracking_of, train_run

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def tracking(mlflow_server: MlflowServer) -> dict[str, Any]:
    return {"tracking": "mlflow", "mlflow_tracking_uri": SecretStr(mlflow_server.url)}


async def test_a_run_is_in_mlflow_with_params_metrics_tags_and_artifacts(
    client: httpx.AsyncClient, accounts: dict[str, Account], mlflow_server: MlflowServer,
    settings: Settings,
) -> None:  # fmt: skip
    name = f"train-{db_kind(settings)}"
    run = await train_run(client, accounts["editor"], name, lr=0.5)
    assert run["status"] == "succeeded"
    entry = await tracking_of(client, accounts["viewer"], run["id"], "mlflow", "synced")
    assert entry["error"] is None

    [found] = await asyncio.to_thread(mlflow_runs, mlflow_server.url, name)
    assert found["id"] == entry["external_id"]
    assert found["status"] == "FINISHED"
    assert found["params"] == {"lr": "0.5"}
    assert found["tags"]["plait.run_id"] == str(run["id"])
    assert found["tags"]["plait.workflow"] == name
    assert found["tags"]["plait.status"] == "succeeded"
    assert found["metrics"]["loss"] == [(s, 0.5 / (s + 1)) for s in range(5)]
    assert found["metrics"]["accuracy"] == [(0, 0.75)]
    assert found["artifacts"] == {"model.txt": "weights"}
