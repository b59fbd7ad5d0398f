"""A model's pickle runs its author's code when loaded: the conversion's process must show
it none of the server's secrets. The pickle here reads the signing key file, the SQLite
database and the environment, and tells what it saw in the only channel it has: the error
it raises, which the export's 422 repeats."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plait.settings import Settings
from tests.conftest import SECRET, Account
from tests.support.model_versions import log_model_version

PROBE = """
import os
def peek(path):
    try:
        with open(path, "rb") as f:
            data = f.read(64)
    except OSError as exc:
        return "DENIED:" + type(exc).__name__
    return "READ:" + data[:20].decode("latin-1") if data else "EMPTY"
env = sorted(k for k in os.environ if k.startswith("PLAIT_") or "SECRET" in k)
raise RuntimeError("SAW key=%s db=%s proc=%s env=%s" % (
    peek(KEY), peek(DB), peek(PROC), env))
"""


class Probe:
    def __init__(self, key: Path, db: Path, server_pid: int) -> None:
        self.code = (f"KEY = {str(key)!r}\nDB = {str(db)!r}\n"
                     f"PROC = '/proc/{server_pid}/environ'\n{PROBE}")  # fmt: skip

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.code,))


@pytest.fixture(params=["bwrap", "off"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update={"task_sandbox": request.param})


async def test_what_a_pickle_sees_when_it_is_converted(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], workflow: str,
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PLAIT_SECRET_KEY", SECRET)  # as a server given its key this way has it
    key = settings.data_dir / "secret.key"  # as a server that made its own key has it
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(SECRET)
    db = tmp_path / "db" / "plait.db"  # the SQLite database (PostgreSQL: not there at all)
    ctx = app.state.plait
    raw = pickle.dumps(Probe(key, db, os.getpid()))
    number = await log_model_version(ctx.db, ctx.artifacts, workflow, "probe", flavor="pickle",
                                     raw=raw)  # fmt: skip
    path = f"/api/v1/models/probe/versions/{number}/export"
    response = await client.post(path, json={"format": "onnx"}, headers=accounts["editor"].headers)
    assert response.status_code == 422, response.text
    saw = response.json()["detail"]
    assert "SAW key=" in saw, saw  # the probe ran, and said what it saw
    assert "env=[]" in saw, saw  # never the server's environment, sandbox or not
    if settings.task_sandbox == "off":  # the probe works: without the sandbox it reads the key
        assert "key=READ:" + SECRET[:20] in saw, saw
        return
    assert "READ" not in saw, saw
    assert SECRET[:20] not in saw
    assert "SQLite" not in saw
