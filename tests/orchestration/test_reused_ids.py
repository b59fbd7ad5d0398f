"""Nothing that outlives a row trusts its id: after a workflow and its runs are deleted, a run
that gets the same ids (as SQLite handed them out before migration 0006) runs its own code and
shows only its own logs and artifacts; the deleted runs' files are gone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.models import Run, TaskAttempt, Workflow, WorkflowVersion
from plait.workflows.versions import content_hash
from tests.conftest import Account

WRITES = (
    "import pathlib, plait\n"
    "print('{word}')\n"
    "pathlib.Path('{word}.txt').write_text('{word}')\n"
    "plait.log_artifact('{word}.txt')\n"
)


async def _finished(client: httpx.AsyncClient, who: Account, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run: dict[str, Any] = (
            await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)
        ).json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish: {run}")


async def _old_run(client: httpx.AsyncClient, who: Account) -> int:
    doc = {"name": "old", "tasks": [{"key": "t", "kind": "python",
                                     "code": WRITES.format(word="old")}]}  # fmt: skip
    assert (await client.post("/api/v1/workflows", json=doc, headers=who.headers)).is_success
    run = await client.post("/api/v1/workflows/old/runs", json={}, headers=who.headers)
    run_id: int = run.json()["id"]
    assert (await _finished(client, who, run_id))["status"] == "succeeded"
    return run_id


async def _same_ids_new_code(app: FastAPI, run_id: int) -> None:
    """What SQLite did before 0006: the next workflow and run take the deleted ones' ids."""
    db = app.state.plait.db
    async with db.write() as session:
        old = (await session.execute(select(Run.workflow_id).where(Run.id == run_id))).scalar()
    assert old is None  # deleted with its workflow
    async with db.write() as session:
        task = {"key": "t", "kind": "python", "code": WRITES.format(word="new")}
        spec = {"name": "new", "description": "", "tags": [], "params": {}, "tasks": [task]}
        wf = Workflow(id=1, name="new", spec=spec)
        session.add(wf)
        await session.flush()
        session.add(WorkflowVersion(workflow_id=wf.id, version=1, spec=spec,
                                    content_hash=content_hash(spec)))  # fmt: skip
        session.add(Run(id=run_id, workflow_id=wf.id, workflow_version=1, params={},
                        status="queued", trigger="api"))  # fmt: skip
        await session.flush()
        session.add(TaskAttempt(run_id=run_id, task_key="t", status="pending", outputs={}))
    app.state.plait.scheduler.wake(run_id)


async def test_a_run_with_a_deleted_runs_ids_runs_its_own_code_and_shows_its_own_files(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], tmp_path: Path
) -> None:
    editor = accounts["editor"]
    run_id = await _old_run(client, editor)
    wf_id = (await client.get("/api/v1/workflows/old", headers=editor.headers)).json()["id"]
    assert wf_id == 1  # the first workflow: the stand-in below takes its id
    deleted = await client.delete("/api/v1/workflows/old", headers=editor.headers)
    assert deleted.status_code == 204
    data = app.state.plait.settings.data_dir
    assert not (data / "runs" / str(run_id)).exists()
    assert not (data / "artifacts" / str(run_id)).exists()

    await _same_ids_new_code(app, run_id)

    run = await _finished(client, editor, run_id)
    assert run["status"] == "succeeded", run
    logs = await client.get(f"/api/v1/runs/{run_id}/tasks/t/logs", headers=editor.headers)
    assert logs.json()["content"] == "new\n"
    artifacts = (
        await client.get(f"/api/v1/runs/{run_id}/artifacts", headers=editor.headers)
    ).json()
    assert [a["name"] for a in artifacts] == ["new.txt"]
    url = f"/api/v1/runs/{run_id}/artifacts/{artifacts[0]['id']}"
    assert (await client.get(url, headers=editor.headers)).text == "new"
