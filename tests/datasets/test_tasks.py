"""Tasks reading and writing datasets through the SDK, in real runs on the local executor
(sandboxed): the host cache, lineage both ways, and what a task may not do."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from plait.datasets.cache import HostCache
from tests.conftest import Account
from tests.orchestration.test_engine import py, start, task, wait

Accounts = dict[str, Account]
CSV = b"x,y\n1,2\n3,4\n"
READ = """
import plait
path = plait.dataset("iris")
plait.set_output("path", str(path))
plait.set_output("text", path.read_text())
"""


async def upload(client: httpx.AsyncClient, who: Account, data: bytes = CSV) -> None:
    r = await client.post("/api/v1/datasets", json={"name": "iris"}, headers=who.headers)
    assert r.status_code == 201, r.text
    files = {"file": ("iris.csv", data, "text/csv")}
    r = await client.post("/api/v1/datasets/iris/versions", files=files, headers=who.headers)
    assert r.status_code == 201, r.text


def host_cache(app: FastAPI) -> HostCache:
    cache: HostCache = app.state.services.scheduler.executor.datasets.cache
    return cache


def inode(path: Path) -> int:
    return path.stat().st_ino


def folder_of(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes and the names in its folder."""
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


def outputs(run: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = task(run, key)["attempts"][-1]["outputs"]
    return found


async def run_again(client: httpx.AsyncClient, who: Account, workflow: str) -> dict[str, Any]:
    r = await client.post(f"/api/v1/workflows/{workflow}/runs", json={}, headers=who.headers)
    assert r.status_code == 201, r.text
    return await wait(client, who, r.json()["id"])


async def test_a_second_run_reads_the_version_from_the_cache_without_fetching_it(
    client: httpx.AsyncClient, accounts: Accounts, app: FastAPI
) -> None:
    editor = accounts["editor"]
    await upload(client, editor)
    first = await wait(client, editor, (await start(client, editor, [py("load", READ)]))["id"])
    assert first["status"] == "succeeded", first
    path = Path(outputs(first, "load")["path"])
    assert outputs(first, "load")["text"] == CSV.decode()
    assert path.parent.name == hashlib.sha256(CSV).hexdigest()
    first_inode = inode(path)
    assert host_cache(app).fetches == 1

    second = await run_again(client, editor, "wf")
    assert second["status"] == "succeeded", second
    assert outputs(second, "load") == outputs(first, "load")
    assert host_cache(app).fetches == 1  # a hit: nothing fetched again
    assert inode(path) == first_inode

    lineage = await client.get("/api/v1/datasets/iris/versions/1/lineage", headers=editor.headers)
    assert [(x["run_id"], x["task_key"], x["direction"]) for x in lineage.json()] == [
        (first["id"], "load", "read"),
        (second["id"], "load", "read"),
    ]
    used = await client.get(f"/api/v1/runs/{second['id']}/datasets", headers=editor.headers)
    assert [(x["dataset"], x["version"], x["direction"]) for x in used.json()] == [
        ("iris", 1, "read")
    ]


async def test_a_task_logs_a_new_version_and_lineage_says_which_run_wrote_it(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    code = """
import plait
from pathlib import Path
Path("scores.csv").write_text("id,score\\n1,0.5\\n")
plait.set_output("version", plait.log_dataset("scores.csv", "scores", kind="tabular",
                                              tags=["eval"]))
"""
    run = await wait(client, editor, (await start(client, editor, [py("score", code)]))["id"])
    assert run["status"] == "succeeded", run
    assert outputs(run, "score")["version"] == 1
    got = await client.get("/api/v1/datasets/scores", headers=editor.headers)
    assert got.json()["kind"] == "tabular" and got.json()["created_by"] == "ed"
    latest = got.json()["latest"]
    assert latest["source_run_id"] == run["id"]
    assert latest["metadata"] == {} and latest["size"] == len("id,score\n1,0.5\n")
    data = await client.get("/api/v1/datasets/scores/versions/1/download", headers=editor.headers)
    assert data.content == b"id,score\n1,0.5\n"
    used = await client.get(f"/api/v1/runs/{run['id']}/datasets", headers=editor.headers)
    assert [(x["dataset"], x["direction"]) for x in used.json()] == [("scores", "wrote")]
    lineage = await client.get("/api/v1/datasets/scores/versions/1/lineage",
                               headers=editor.headers)  # fmt: skip
    assert [(x["run_id"], x["direction"]) for x in lineage.json()] == [(run["id"], "wrote")]


async def test_the_cache_is_read_only_for_tasks(
    client: httpx.AsyncClient, accounts: Accounts, app: FastAPI
) -> None:
    editor = accounts["editor"]
    await upload(client, editor)
    code = (
        READ
        + """
import os
tries = {}
for name, attempt in {
    "write": lambda: open(path, "w").write("poison"),
    "add": lambda: open(path.parent / "other.csv", "w").write("poison"),
    "chmod": lambda: os.chmod(path, 0o666),
    "remove": lambda: os.remove(path),
}.items():
    try:
        attempt()
        tries[name] = "done"
    except OSError as exc:
        tries[name] = type(exc).__name__
plait.set_output("tries", tries)
"""
    )
    run = await wait(client, editor, (await start(client, editor, [py("poison", code)]))["id"])
    assert run["status"] == "succeeded", run
    assert set(outputs(run, "poison")["tries"].values()) <= {"PermissionError", "OSError"}
    path = Path(outputs(run, "poison")["path"])
    assert folder_of(path) == (CSV, ["iris.csv"])


async def test_what_a_task_may_not_ask_fails_it_with_a_clear_error(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    missing = "import plait\nplait.dataset('nope')"
    outside = "import plait\nplait.log_dataset('/etc/hostname', 'stolen')"
    # A link in the task's folder to a file outside it: the server must not follow it.
    linked = ("import os, plait\nos.symlink('/etc/hostname', 'key.csv')\n"
              "plait.log_dataset('key.csv', 'stolen')")  # fmt: skip
    run = await wait(client, editor, (await start(client, editor, [
        py("missing", missing), py("outside", outside), py("linked", linked)]))["id"])  # fmt: skip
    assert run["status"] == "failed"
    assert "no dataset named 'nope'" in task(run, "missing")["attempts"][-1]["error"]
    for key in ("outside", "linked"):
        assert "DatasetError" in task(run, key)["attempts"][-1]["error"], key
    listed = await client.get("/api/v1/datasets", headers=editor.headers)
    assert listed.json()["items"] == []


async def test_a_viewers_workflow_may_not_write_datasets(
    client: httpx.AsyncClient, accounts: Accounts, app: FastAPI
) -> None:
    """A task writes with its workflow owner's rights; an owner since made a viewer has none."""
    editor = accounts["editor"]
    code = ("import plait, pathlib\npathlib.Path('a.csv').write_text('a')\n"
            "plait.log_dataset('a.csv', 'mine')")  # fmt: skip
    created = await client.post("/api/v1/workflows", json={"name": "wf", "tasks": [
        py("w", code)]}, headers=editor.headers)  # fmt: skip
    assert created.status_code == 201
    r = await client.patch(f"/api/v1/users/{editor.id}", json={"role": "viewer"},
                           headers=accounts["admin"].headers)  # fmt: skip
    assert r.status_code == 200, r.text
    admin = accounts["admin"]
    r = await client.post("/api/v1/workflows/wf/runs", json={}, headers=admin.headers)
    run = await wait(client, admin, r.json()["id"])
    assert run["status"] == "failed"
    assert "may not write datasets" in task(run, "w")["attempts"][-1]["error"]
