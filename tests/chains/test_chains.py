"""Chains: a workflow's end starts the workflows that declare a trigger on it, with params
from its params and outputs; lineage shows the chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plait.orchestration import chains
from tests.chains.helpers import chained, create, downstream, feed, finished
from tests.conftest import Account
from tests.notifications.test_worker import until
from tests.orchestration.test_engine import py, task, wait

Accounts = dict[str, Account]

PREPARE = {
    "name": "prepare",
    "params": {"rows": {"type": "integer", "default": 100}},
    "tasks": [
        py("split", "import plait\nrows = plait.params()['rows']\n"
                    "plait.set_output('path', f'/data/{rows}.csv')\n"
                    "plait.set_output('rows', rows)"),
    ],
}  # fmt: skip
TRAIN = {
    "name": "train",
    "params": {"data": {"type": "string", "required": True},
               "lr": {"type": "number", "default": 0.1}},
    "triggers": [{"workflow": "prepare", "on": "success",
                  "params": {"data": "outputs.split.path"}}],
    "tasks": [
        py("fit", "import plait\np = plait.params()\n"
                  "plait.set_output('model.uri', f\"model({p['data']}, {p['lr']})\")"),
    ],
}  # fmt: skip


def evaluate(gate: Path) -> dict[str, Any]:
    """Evaluation: takes train's model (an output whose key has a dot) and its data param;
    holds until `gate` exists, so the test can look at the chain while it runs."""
    code = (
        "import os, time, plait\n"
        "while not os.path.exists(os.environ['GATE']): time.sleep(0.02)\n"
        "p = plait.params()\n"
        "plait.set_output('report', f\"{p['model']} on {p['data']}\")"
    )
    return {
        "name": "evaluate",
        "params": {"model": {"type": "string"}, "data": {"type": "string"}},
        "triggers": [{"workflow": "train", "on": "success",
                      "params": {"model": "outputs.fit.model.uri", "data": "params.data"}}],
        "tasks": [py("score", code, env={"GATE": str(gate)})],
    }  # fmt: skip


async def test_three_workflows_chain_end_to_end(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    editor, viewer = accounts["editor"], accounts["viewer"]
    gate = tmp_path / "gate"
    for doc in (PREPARE, TRAIN, evaluate(gate)):
        assert (await create(client, editor, doc)).status_code == 201
    first = await client.post("/api/v1/workflows/prepare/runs", json={"params": {"rows": 7}},
                              headers=editor.headers)  # fmt: skip
    prepared = await finished(app, client, editor, first.json()["id"])
    assert prepared["status"] == "succeeded"

    trained = await downstream(client, editor, "train", prepared["id"])
    assert trained["trigger"] == "upstream" and trained["params"] == {
        "data": "/data/7.csv", "lr": 0.1}  # fmt: skip
    trained = await finished(app, client, editor, trained["id"])
    assert trained["status"] == "succeeded"

    evaluating = await downstream(client, editor, "evaluate", trained["id"])
    assert evaluating["params"] == {"model": "model(/data/7.csv, 0.1)", "data": "/data/7.csv"}
    running = await client.get(f"/api/v1/runs/{trained['id']}/lineage", headers=viewer.headers)
    assert running.status_code == 200 and running.json()["status"] == "running"

    gate.touch()
    evaluated = await finished(app, client, editor, evaluating["id"])
    assert evaluated["status"] == "succeeded"
    assert task(evaluated, "score")["attempts"][0]["outputs"] == {
        "report": "model(/data/7.csv, 0.1) on /data/7.csv"}  # fmt: skip

    for member in (prepared, trained, evaluated):  # the same chain from any of its runs
        lineage = await client.get(f"/api/v1/runs/{member['id']}/lineage", headers=viewer.headers)
        body = lineage.json()
        assert body["root"] == prepared["id"] and body["status"] == "succeeded"
        assert [(r["workflow"], r["upstream_run_id"], r["trigger"]) for r in body["runs"]] == [
            ("prepare", None, "manual"),
            ("train", prepared["id"], "upstream"),
            ("evaluate", trained["id"], "upstream"),
        ]


async def test_a_redelivered_event_starts_nothing_twice(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    for doc in (PREPARE, TRAIN):
        assert (await create(client, editor, doc)).status_code == 201
    run = await client.post("/api/v1/workflows/prepare/runs", json={}, headers=editor.headers)
    done = await finished(app, client, editor, run.json()["id"])
    await downstream(client, editor, "train", done["id"])  # the first delivery is handled
    assert await feed(app, done) == []  # at least once: the handler sees it again
    assert len(await chained(client, editor, "train", done["id"])) == 1


async def test_a_concurrent_duplicate_is_caught_by_the_unique_key(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two dispatchers handling one event at once both miss the other's run in their look-up;
    the unique key refuses the second insert, inside a savepoint, and the transaction goes on."""
    editor = accounts["editor"]
    for doc in (PREPARE, TRAIN):
        assert (await create(client, editor, doc)).status_code == 201
    run = await client.post("/api/v1/workflows/prepare/runs", json={}, headers=editor.headers)
    done = await finished(app, client, editor, run.json()["id"])
    await downstream(client, editor, "train", done["id"])

    async def never(*_: Any) -> bool:
        return False

    monkeypatch.setattr(chains, "_exists", never)
    assert await feed(app, done) == []
    assert len(await chained(client, editor, "train", done["id"])) == 1


async def test_outcomes_pick_the_triggers_that_fire(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    source = {"name": "nightly", "tasks": [py("job", "import sys\nsys.exit(1)")]}

    def follower(name: str, on: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "tasks": [py("t", "pass")], "triggers": [{"workflow": "nightly",
                "on": on}], **extra}  # fmt: skip

    docs = [source, follower("on-success", "success"), follower("on-failure", "failure"),
            follower("on-any", "any"), follower("paused-any", "any", paused=True)]  # fmt: skip
    for doc in docs:
        assert (await create(client, editor, doc)).status_code == 201
    run = await client.post("/api/v1/workflows/nightly/runs", json={}, headers=editor.headers)
    done = await finished(app, client, editor, run.json()["id"])
    assert done["status"] == "failed"
    # The run's end reaches the chain handler just after the run reads as ended: wait for the
    # runs it starts. One handler call starts them all, so then the others never will.
    started = [
        await downstream(client, editor, name, done["id"]) for name in ("on-failure", "on-any")
    ]
    for name in ("on-success", "paused-any"):
        assert await chained(client, editor, name, done["id"]) == [], name
    finals = [await wait(client, editor, r["id"]) for r in started]
    assert [r["status"] for r in finals] == ["succeeded", "succeeded"]
    lineage = await client.get(f"/api/v1/runs/{done['id']}/lineage", headers=editor.headers)
    assert lineage.json()["status"] == "failed"


async def test_a_missing_output_skips_the_trigger_with_an_audit_event(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    wanting = {**TRAIN, "triggers": [{"workflow": "prepare",
                                      "params": {"data": "outputs.split.nothing"}}]}  # fmt: skip
    for doc in (PREPARE, wanting):
        assert (await create(client, editor, doc)).status_code == 201
    run = await client.post("/api/v1/workflows/prepare/runs", json={}, headers=editor.headers)
    done = await finished(app, client, editor, run.json()["id"])
    assert done["status"] == "succeeded"

    found: list[dict[str, Any]] = []

    async def skipped() -> bool:
        audit = await client.get("/api/v1/audit?action=chain.skipped",
                                 headers=accounts["admin"].headers)  # fmt: skip
        found[:] = audit.json()["items"]
        return bool(found)

    await until(skipped)  # the run's end reaches the chain handler just after it reads as ended
    [event] = found
    assert await chained(client, editor, "train", done["id"]) == []  # the handler has run
    assert event["summary"]["upstream_run_id"] == done["id"]
    assert "no output 'nothing'" in event["summary"]["reason"]


async def test_lineage_of_a_run_alone_and_of_no_run(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    assert (await create(client, editor, PREPARE)).status_code == 201
    run = (await client.post("/api/v1/workflows/prepare/runs", json={},
                             headers=editor.headers)).json()  # fmt: skip
    await wait(client, editor, run["id"])
    lineage = (await client.get(f"/api/v1/runs/{run['id']}/lineage", headers=editor.headers)).json()
    assert lineage["root"] == run["id"] and [r["id"] for r in lineage["runs"]] == [run["id"]]
    assert lineage["status"] == "succeeded" and lineage["truncated"] is False
    missing = await client.get("/api/v1/runs/999999/lineage", headers=editor.headers)
    assert missing.status_code == 404
