"""A tracking server that is down delays nothing and loses nothing: the run ends at once,
its tracking entry says why it is not there yet, and once the server is up the run is
forwarded in full, as one MLflow run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from plait.settings import Settings
from tests.cli.conftest import free_port
from tests.conftest import Account
from tests.tracking.conftest import MlflowServer, db_kind, mlflow_runs, tracking_of, train_run

pytestmark = pytest.mark.timeout(400)


@pytest.fixture
def later_server(tmp_path: Path) -> Iterator[MlflowServer]:
    """An MLflow server not started yet: its port is free (nothing listens) until then."""
    folder = tmp_path / "mlflow"
    folder.mkdir()
    server = MlflowServer(folder, free_port())
    yield server
    server.stop()


@pytest.fixture
def tracking(later_server: MlflowServer) -> dict[str, Any]:
    return {"tracking": "mlflow", "mlflow_tracking_uri": SecretStr(later_server.url)}


async def test_a_run_made_while_mlflow_is_down_reaches_it_when_it_is_back(
    client: httpx.AsyncClient, accounts: dict[str, Account], later_server: MlflowServer,
    settings: Settings,
) -> None:  # fmt: skip
    name = f"down-{db_kind(settings)}"
    run = await train_run(client, accounts["editor"], name, lr=0.25)
    assert run["status"] == "succeeded"  # it did not wait for MLflow
    viewer = accounts["viewer"]
    pending = await tracking_of(client, viewer, run["id"], "mlflow", "retrying")
    assert "Connection refused" in pending["error"] or "connect" in pending["error"].lower()
    assert pending["external_id"] is None

    await asyncio.to_thread(later_server.start)
    synced = await tracking_of(client, viewer, run["id"], "mlflow", "synced", within=120)
    assert synced["error"] is None

    [found] = await asyncio.to_thread(mlflow_runs, later_server.url, name)  # one, not two
    assert found["id"] == synced["external_id"]
    assert found["status"] == "FINISHED"
    assert found["params"] == {"lr": "0.25"}
    assert found["metrics"]["loss"] == [(s, 0.25 / (s + 1)) for s in range(5)]
    assert found["artifacts"] == {"model.txt": "weights"}
