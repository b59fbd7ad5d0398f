"""A remote worker's side of dataset requests: resolved and downloaded through the execution
API with its worker token into the worker's own cache, and a logged file uploaded as a new
version; lineage recorded by the server either way."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from plait.datasets.remote import worker_datasets
from plait.executors import EXECUTORS
from plait.executors.base import Dispatch
from plait.executors.reports import DatasetLog, DatasetRequest
from plait.settings import Settings
from plait.worker.client import ExecApi
from tests.conftest import Account
from tests.exec.conftest import HeldExecutor, bearer, claim, new_token, queued_job, start_run
from tests.support.workflows import create_workflow

CSV = b"a,b\n1,2\n"


@pytest.fixture
def settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A server whose executor runs nothing: the worker below claims the attempt."""
    monkeypatch.setitem(EXECUTORS, "held", "tests.exec.conftest:HeldExecutor")
    return settings.model_copy(update={"executor": "held"})


@pytest.fixture
async def worker(client: httpx.AsyncClient, accounts: dict[str, Account]) -> dict[str, str]:
    return bearer(await new_token(client, accounts["admin"], "worker-1", worker=True))


@pytest.fixture
async def exec_api(app: FastAPI, worker: dict[str, str]) -> AsyncIterator[ExecApi]:
    api = ExecApi("http://plait.test", worker["Authorization"].removeprefix("Bearer "), 5.0,
                  httpx.ASGITransport(app=app))  # fmt: skip
    yield api
    await api.close()


def contents(path: Path) -> bytes:
    return path.read_bytes()


def reply(folder: Path, ask_id: str) -> dict[str, object]:
    found: dict[str, object] = json.loads((folder / "replies" / f"{ask_id}.json").read_text())
    return found


async def test_a_worker_resolves_downloads_once_and_logs_a_version(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI,
    worker: dict[str, str], exec_api: ExecApi, tmp_path: Path,
) -> None:  # fmt: skip
    editor = accounts["editor"]
    assert isinstance(app.state.plait.scheduler.executor, HeldExecutor)
    await client.post("/api/v1/datasets", json={"name": "iris"}, headers=editor.headers)
    r = await client.post("/api/v1/datasets/iris/versions", headers=editor.headers,
                          files={"file": ("iris.csv", CSV)})  # fmt: skip
    assert r.status_code == 201
    wf = await create_workflow(client, editor)
    run = await start_run(client, editor, wf)
    job = await queued_job(app, "load")
    assert (await claim(client, worker, job.attempt_id)).status_code == 200

    host = tmp_path / "worker-host"
    folder = host / "runs" / str(job.run_id) / job.task_key / str(job.attempt)
    (folder / "work").mkdir(parents=True)
    datasets = worker_datasets(exec_api, host)
    ref = Dispatch(job.attempt_id, job.run_id, "", job.task_key, job.attempt, "", "")
    for ask_id in ("first", "second"):
        ask = DatasetRequest(attempt_id=job.attempt_id, id=ask_id, name="iris")
        await datasets.answer(ref, folder, ask)
        got = reply(folder, ask_id)
        assert got["ok"] is True, got
        path = Path(str(got["path"]))
        assert contents(path) == CSV and path.is_relative_to(host / "cache" / "datasets")
        assert path.parent.name == hashlib.sha256(CSV).hexdigest()
    assert datasets.cache.fetches == 1

    (folder / "work" / "out.csv").write_bytes(b"x\n1\n")
    log = DatasetLog(attempt_id=job.attempt_id, id="third", name="derived",
                     path=str(folder / "work" / "out.csv"), tags=["w"])  # fmt: skip
    await datasets.answer(ref, folder, log)
    assert reply(folder, "third") == {"ok": True, "name": "derived", "version": 1}

    used = await client.get(f"/api/v1/runs/{run['id']}/datasets", headers=editor.headers)
    assert [(u["dataset"], u["direction"]) for u in used.json()] == [
        ("iris", "read"), ("derived", "wrote")
    ]  # fmt: skip
    data = await client.get("/api/v1/datasets/derived/versions/1/download", headers=editor.headers)
    assert data.content == b"x\n1\n"

    missing = DatasetRequest(attempt_id=job.attempt_id, id="fourth", name="nope")
    await datasets.answer(ref, folder, missing)
    assert reply(folder, "fourth") == {"ok": False, "error": "no dataset named 'nope'"}
