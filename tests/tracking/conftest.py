"""A real `mlflow server` (SQLite backend, artifacts in a temp folder, a free port) that
tests can stop and start again on the same port and store, and helpers to run a workflow
that logs params, metrics and an artifact."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from plait.settings import Settings
from tests.cli.conftest import free_port
from tests.conftest import Account, workflow_doc
from tests.orchestration.test_engine import wait

MLFLOW = str(Path(sys.executable).with_name("mlflow"))
TRAIN = """
import plait
lr = plait.params()["lr"]
for step in range(5):
    plait.log_metric("loss", lr / (step + 1), step=step)
plait.log_metric("accuracy", 0.75)
with open("model.txt", "w") as f:
    f.write("weights")
plait.log_artifact("model.txt")
"""


@dataclass
class MlflowServer:
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.process is not None:
            return
        with open(self.folder / "server.log", "ab") as log:  # the process has its own copy
            self.process = subprocess.Popen(
                [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
                 "--artifacts-destination", str(self.folder / "artifacts"), "--workers", "1"],
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "server.log").read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError("mlflow server did not start in 180 s")

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # uvicorn and its worker
        self.process.wait(30)
        self.process = None


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tracking() -> dict[str, Any]:
    """The tracking settings of a test (its adapters, where MLflow is): modules override."""
    return {}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, tracking: dict[str, Any]) -> Settings:
    """Quick retries; W&B writes under the test's folder."""
    return settings.model_copy(
        update={
            "tracking_retry_seconds": 0.2,
            "tracking_retry_max_seconds": 1.0,
            "tracking_sync_seconds": 0.3,
            "wandb_dir": tmp_path / "wandb",
            **tracking,
        }
    )


async def train_run(
    client: httpx.AsyncClient, who: Account, name: str, lr: float = 0.5
) -> dict[str, Any]:
    """Create a workflow whose task logs metrics and an artifact, run it, wait for its end."""
    doc = workflow_doc(name, tasks=[{"key": "train", "kind": "python", "code": TRAIN}])
    made = await client.post("/api/v1/workflows", json=doc, headers=who.headers)
    assert made.status_code == 201, made.text
    started = await client.post(
        f"/api/v1/workflows/{name}/runs", json={"params": {"lr": lr}}, headers=who.headers
    )
    assert started.status_code == 201, started.text
    run: dict[str, Any] = await wait(client, who, started.json()["id"], within=60)
    return run


async def tracking_of(
    client: httpx.AsyncClient, who: Account, run_id: int, adapter: str, until: str,
    within: float = 60,
) -> dict[str, Any]:  # fmt: skip
    """The run's tracking entry for `adapter`, once its status is `until`."""
    deadline = time.monotonic() + within
    entry: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        run = (await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)).json()
        entry = next((t for t in run["tracking"] if t["adapter"] == adapter), None)
        if entry is not None and entry["status"] == until:
            return dict(entry)
        await asyncio.sleep(0.1)
    raise AssertionError(f"tracking of run {run_id} to {adapter} not {until}: {entry}")


def mlflow_runs(url: str, experiment_name: str) -> list[dict[str, Any]]:
    """What the MLflow client reads back of an experiment's runs (blocking: call in a thread)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None, f"no MLflow experiment {experiment_name}"
    found = []
    for run in client.search_runs([experiment.experiment_id]):
        run_id = run.info.run_id
        history = {
            key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
            for key in run.data.metrics
        }
        artifacts = {a.path: "" for a in client.list_artifacts(run_id)}
        for path in artifacts:
            artifacts[path] = Path(client.download_artifacts(run_id, path)).read_text()
        info = {"id": run_id, "status": run.info.status, "params": run.data.params}
        found.append({**info, "tags": run.data.tags, "metrics": history, "artifacts": artifacts})
    return found


def db_kind(settings: Settings) -> str:
    """sqlite or postgresql: workflow names (MLflow experiments) differ per database."""
    return "postgresql" if "postgresql" in settings.resolved_database_url() else "sqlite"


def wandb_records(path: Path) -> list[Any]:
    """The records of a W&B offline run file (`run-<id>.wandb`), parsed with wandb's own
    protobuf. The file is a LevelDB-style log: a 7-byte header, then records in 32 KiB
    blocks, each with a 7-byte header (crc, length, kind: full, first, middle, last)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    pos, pending, records = 7, b"", []
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
            record.ParseFromString(pending)
            records.append(record)
    return records
