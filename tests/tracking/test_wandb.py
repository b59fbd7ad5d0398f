"""Runs written to W&B offline: the run file holds config, history, summary, artifacts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plait.db.engine import Database
from plait.db.models import Event
from plait.settings import Settings
from plait.tracking import store
from tests.conftest import Account
from tests.tracking.conftest import tracking_of, train_run, wandb_records

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def tracking() -> dict[str, Any]:
    return {"tracking": "wandb"}


def offline_run(folder: Path) -> dict[str, Any]:
    """What the one offline run under `folder` holds, by record kind."""
    [run_file] = folder.glob("wandb/offline-run-*/run-*.wandb")
    seen: dict[str, Any] = {"history": [], "summary": {}, "artifacts": []}
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            seen["id"], seen["project"] = record.run.run_id, record.run.project
            seen["config"] = {i.key: json.loads(i.value_json) for i in record.run.config.update}
        elif kind == "history":
            seen["history"].append(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in record.history.item
                }
            )
        elif kind == "summary":
            seen["summary"].update(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in record.summary.update
                }
            )
        elif kind == "artifact":
            seen["artifacts"] += [m.path for m in record.artifact.manifest.contents]
        elif kind == "exit":
            seen["exit_code"] = record.exit.exit_code
    return seen


async def test_a_run_is_written_to_a_wandb_offline_run(
    client: httpx.AsyncClient, accounts: dict[str, Account], settings: Settings
) -> None:
    run = await train_run(client, accounts["editor"], "wandb-train", lr=0.5)
    assert run["status"] == "succeeded"
    entry = await tracking_of(client, accounts["viewer"], run["id"], "wandb", "synced")
    assert entry["external_id"] == f"plait-run-{run['id']}"

    assert settings.wandb_dir is not None
    seen = await asyncio.to_thread(offline_run, settings.wandb_dir)
    assert seen["id"] == entry["external_id"]
    assert seen["project"] == "wandb-train"
    assert seen["config"]["lr"] == 0.5
    steps = {h["_step"]: h for h in seen["history"]}
    assert sorted(steps) == [0, 1, 2, 3, 4]
    assert [steps[s]["loss"] for s in range(5)] == [0.5 / (s + 1) for s in range(5)]
    assert steps[0]["accuracy"] == 0.75
    assert seen["summary"]["plait_status"] == "succeeded"
    assert seen["artifacts"] == ["model.txt"]
    assert seen["exit_code"] == 0


async def test_an_ended_run_is_written_once_however_often_it_is_due(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], settings: Settings
) -> None:
    """An event that comes after the forwarder saw the run end makes its row due again: the
    same ending must not be written to W&B a second time (a second offline run)."""
    run = await train_run(client, accounts["editor"], "wandb-twice", lr=0.1)
    await tracking_of(client, accounts["viewer"], run["id"], "wandb", "synced")
    db: Database = app.state.plait.db
    async with db.write() as session:
        await store.handler(settings)(session, Event(type="run.succeeded", run_id=run["id"]))
    await tracking_of(client, accounts["viewer"], run["id"], "wandb", "synced")
    assert settings.wandb_dir is not None
    assert len(list(settings.wandb_dir.glob("wandb/offline-run-*/run-*.wandb"))) == 1
