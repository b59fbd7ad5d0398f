"""Through the API: pinning a run (editors; audited; retention keeps it), a workflow's
retention_days (create, patch, export, the column the retention job reads), and deleting a
workflow whose task is running (its process stops, its files go)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import yaml
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.engine import Database
from plait.db.models import AuditEvent, Run, TaskAttempt, Workflow
from plait.orchestration.retention import run_pass
from plait.settings import Settings
from tests.conftest import Account
from tests.support.processes import wait_holding, wait_released
from tests.support.retention import (
    NOW,
    add_run,
    fixtures,
    folders,
    references,
    run_ids,
    workflow_id,
)
from tests.support.workflows import create_workflow

Accounts = dict[str, Account]


async def test_a_pinned_run_is_kept_and_unpinned_goes(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, settings: Settings
) -> None:
    db: Database = app.state.plait.db
    editor, viewer = accounts["editor"], accounts["viewer"]
    await create_workflow(client, editor, name="old")
    wf = await workflow_id(db, "old")
    run_id = await add_run(db, settings.data_dir, await fixtures(db, wf), wf)
    shown = (await client.get(f"/api/v1/runs/{run_id}", headers=viewer.headers)).json()
    assert shown["pinned"] is False

    refused = await client.post(f"/api/v1/runs/{run_id}/pin", headers=viewer.headers)
    assert refused.status_code == 403
    pinned = await client.post(f"/api/v1/runs/{run_id}/pin", headers=editor.headers)
    assert pinned.status_code == 200 and pinned.json()["pinned"] is True
    listed = (await client.get("/api/v1/runs", headers=viewer.headers)).json()["items"]
    assert [r["pinned"] for r in listed] == [True]

    assert (await run_pass(db, settings, now=NOW)).runs == 0
    assert await run_ids(db) == {run_id}

    refused = await client.delete(f"/api/v1/runs/{run_id}/pin", headers=viewer.headers)
    assert refused.status_code == 403
    unpinned = await client.delete(f"/api/v1/runs/{run_id}/pin", headers=editor.headers)
    assert unpinned.status_code == 200 and unpinned.json()["pinned"] is False
    assert (await run_pass(db, settings, now=NOW)).runs == 1
    assert await run_ids(db) == set()
    missing = await client.post(f"/api/v1/runs/{run_id}/pin", headers=editor.headers)
    assert missing.status_code == 404

    async with db.read() as session:
        actions = (await session.execute(
            select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.target_type == "run")
            .where(AuditEvent.action.in_(["run.pin", "run.unpin"])).order_by(AuditEvent.id)
        )).all()  # fmt: skip
    assert [tuple(a) for a in actions] == [("run.pin", "ed"), ("run.unpin", "ed")]


async def _column(db: Database, name: str) -> int | None:
    async with db.read() as session:
        return await session.scalar(select(Workflow.retention_days).where(Workflow.name == name))


async def test_a_workflows_retention_days_is_part_of_its_definition(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    db: Database = app.state.plait.db
    editor = accounts["editor"]
    made = await create_workflow(client, editor, name="kept", retention_days=90)
    assert made["retention_days"] == 90 and await _column(db, "kept") == 90
    exported = await client.get("/api/v1/workflows/kept/export", headers=editor.headers)
    assert yaml.safe_load(exported.text)["retention_days"] == 90

    forever = await client.patch("/api/v1/workflows/kept", json={"retention_days": 0},
                                 headers=editor.headers)  # fmt: skip
    assert forever.json()["retention_days"] == 0 and await _column(db, "kept") == 0
    default = await client.patch("/api/v1/workflows/kept", json={"retention_days": None},
                                 headers=editor.headers)  # fmt: skip
    assert default.json()["retention_days"] is None and await _column(db, "kept") is None
    assert "retention_days" not in yaml.safe_load(
        (await client.get("/api/v1/workflows/kept/export", headers=editor.headers)).text
    )
    bad = await client.patch("/api/v1/workflows/kept", json={"retention_days": -1},
                             headers=editor.headers)  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "retention_days"


SLEEPER = """
import os, time
held = os.open({marker!r}, os.O_RDONLY)
print("started", flush=True)
time.sleep(60)
"""


async def test_deleting_a_workflow_stops_its_running_task_and_removes_its_files(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, settings: Settings, tmp_path: Path
) -> None:
    db: Database = app.state.plait.db
    editor = accounts["editor"]
    marker = tmp_path / "marker"
    marker.touch()
    code = SLEEPER.format(marker=str(marker))
    await create_workflow(client, editor, name="sleepy",
                          tasks=[{"key": "nap", "kind": "python", "code": code}])  # fmt: skip
    run = (
        await client.post("/api/v1/workflows/sleepy/runs", json={}, headers=editor.headers)
    ).json()
    await wait_holding(marker, 1)
    run_dir = settings.data_dir / "runs" / str(run["id"])
    assert run_dir.is_dir()

    started = time.monotonic()
    deleted = await client.delete("/api/v1/workflows/sleepy", headers=editor.headers)

    assert deleted.status_code == 204, deleted.text
    assert time.monotonic() - started < settings.kill_grace_seconds + 5
    assert await wait_released(marker, within=0) == [], "the task outlived its workflow"
    assert not run_dir.exists()
    assert not (settings.data_dir / "artifacts" / str(run["id"])).exists()
    async with db.read() as session:
        assert (await session.execute(select(Run.id))).first() is None
        assert (await session.execute(select(TaskAttempt.id))).first() is None
    await asyncio.sleep(0.5)  # the scheduler's last word on the run must not bring files back
    assert not run_dir.exists()
    gone = await client.get("/api/v1/workflows/sleepy", headers=editor.headers)
    assert gone.status_code == 404


async def test_deleting_a_workflow_leaves_nothing_that_names_its_runs(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, settings: Settings
) -> None:
    db: Database = app.state.plait.db
    editor = accounts["editor"]
    await create_workflow(client, editor, name="doomed")
    await create_workflow(client, editor, name="other")
    doomed, other = await workflow_id(db, "doomed"), await workflow_id(db, "other")
    fx = await fixtures(db, other)
    made = [await add_run(db, settings.data_dir, fx, doomed, age_days=d) for d in range(5)]
    kept = await add_run(db, settings.data_dir, fx, other)
    app.state.plait.settings.retention_batch_size = 2  # its runs go in batches of 2

    deleted = await client.delete("/api/v1/workflows/doomed", headers=editor.headers)

    assert deleted.status_code == 204, deleted.text
    assert await run_ids(db) == {kept}
    for column, held in (await references(db)).items():
        if column != "dataset_versions.source_run_id":
            assert set(held) <= {kept}, column  # nothing names a deleted run
    assert all(folders(settings.data_dir, i) == [] for i in made)
    assert len(folders(settings.data_dir, kept)) == 2
