"""Landlock over each task: a task writes beneath its own attempt and artifacts folders (and
its temporary folder) only, so one run's task cannot change what another run kept."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from plait.runner import confine
from plait.settings import Settings
from tests.conftest import Account
from tests.orchestration.test_engine import py, start, task, wait

Accounts = dict[str, Account]


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """Tests let tasks write all of tmp_path (to exchange files), which holds the data
    directory: here only a folder beside it."""
    (tmp_path / "exchange").mkdir()
    return settings.model_copy(update={"task_writable_paths": str(tmp_path / "exchange")})


KEEP = """\
import plait, pathlib
pathlib.Path("note.txt").write_text("mine")
plait.log_artifact("note.txt")
print("kept")
"""
# A second run's task tries to change what the first run kept: its artifact, its log, its
# events, and to leave a file in its folders; then checks it can still write its own.
TAMPER = """\
import os, plait, pathlib, shutil
data = pathlib.Path({data})
theirs = [data / "artifacts" / "{run}" / "keep" / "1" / "note.txt",
          data / "runs" / "{run}" / "keep" / "1" / "output.log",
          data / "runs" / "{run}" / "keep" / "1" / "events.jsonl",
          data / "runs" / "{run}" / "keep" / "1" / "planted.py",
          data / "artifacts" / "{run}" / "planted.txt"]
refused = []
for path in theirs:
    try:
        with open(path, "a") as f:
            f.write("tampered")
    except PermissionError:
        refused.append(path.name)
for doing in (lambda: os.remove(theirs[0]), lambda: shutil.rmtree(theirs[1].parent)):
    try:
        doing()
    except PermissionError:
        refused.append("removal")
pathlib.Path("mine.txt").write_text("ok")
plait.log_artifact("mine.txt")
plait.set_output("refused", refused)
"""


@pytest.mark.skipif(not confine.available(), reason="this kernel has no Landlock")
async def test_a_task_cannot_change_another_runs_files(
    client: httpx.AsyncClient, accounts: Accounts, settings: Settings
) -> None:
    editor = accounts["editor"]
    first = await wait(client, editor, (await start(client, editor, [py("keep", KEEP)]))["id"])
    assert first["status"] == "succeeded", first
    kept = settings.data_dir / "artifacts" / str(first["id"]) / "keep" / "1" / "note.txt"
    log = settings.data_dir / "runs" / str(first["id"]) / "keep" / "1" / "output.log"
    before = (kept.read_bytes(), log.read_bytes())

    code = TAMPER.format(data=repr(str(settings.data_dir)), run=first["id"])
    r = await client.post("/api/v1/workflows", headers=editor.headers,
                          json={"name": "other", "tasks": [py("tamper", code)]})  # fmt: skip
    assert r.status_code == 201, r.text
    started = await client.post("/api/v1/workflows/other/runs", json={}, headers=editor.headers)
    second = await wait(client, editor, started.json()["id"])
    assert second["status"] == "succeeded", second
    refused = task(second, "tamper")["attempts"][0]["outputs"]["refused"]
    assert refused == ["note.txt", "output.log", "events.jsonl", "planted.py", "planted.txt",
                       "removal", "removal"]  # fmt: skip
    assert (kept.read_bytes(), log.read_bytes()) == before
    listed = await client.get(f"/api/v1/runs/{second['id']}/artifacts", headers=editor.headers)
    assert [a["name"] for a in listed.json()] == ["mine.txt"]  # its own folders stay its own
