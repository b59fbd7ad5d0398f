"""GET /api/v1/runs/compare: two real runs of one workflow side by side (params, metrics and
their series, outputs, task durations), and what is refused. Long series and the number of
queries: test_compare_series.py."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import Account

Accounts = dict[str, Account]
FINISHED = ("succeeded", "failed", "cancelled")
TRAIN = """\
import plait
lr = plait.params()["lr"]
for step in range(5):
    plait.log_metric("loss", (5 - step) * lr, step=step)
plait.log_metric("accuracy", 0.5)
plait.log_metric("accuracy", 1 - lr)
plait.set_output("score", round(1 - lr, 3))
plait.set_output("model", "linear")
"""
WORKFLOW = {
    "name": "train",
    "params": {
        "lr": {"type": "number", "default": 0.1},
        "epochs": {"type": "integer", "default": 5},
    },
    "tasks": [
        {"key": "fit", "kind": "python", "code": TRAIN},
        {"key": "report", "kind": "shell", "command": "echo done", "depends_on": ["fit"]},
    ],
}


def loss(lr: float) -> list[float]:
    return [(5 - step) * lr for step in range(5)]  # what the task logs, computed the same way


async def run_to_end(client: httpx.AsyncClient, who: Account, params: dict[str, Any]) -> int:
    started = await client.post("/api/v1/workflows/train/runs", json={"params": params},
                                headers=who.headers)  # fmt: skip
    assert started.status_code == 201, started.text
    run_id: int = started.json()["id"]
    deadline = time.monotonic() + 60
    while (run := (await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)).json())[
        "status"
    ] not in FINISHED:
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.05)
    assert run["status"] == "succeeded", run
    return run_id


async def compare(client: httpx.AsyncClient, who: Account, *run_ids: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/compare?ids={','.join(map(str, run_ids))}",
                                headers=who.headers)  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by(rows: list[dict[str, Any]], *fields: str) -> dict[Any, dict[str, Any]]:
    key = (lambda r: r[fields[0]]) if len(fields) == 1 else (lambda r: tuple(r[f] for f in fields))
    return {key(row): row for row in rows}


async def test_two_real_runs_side_by_side(client: httpx.AsyncClient, accounts: Accounts) -> None:
    editor, viewer = accounts["editor"], accounts["viewer"]
    made = await client.post("/api/v1/workflows", json=WORKFLOW, headers=editor.headers)
    assert made.status_code == 201, made.text
    slow = await run_to_end(client, editor, {"lr": 0.1})
    fast = await run_to_end(client, editor, {"lr": 0.4})
    a, b = str(slow), str(fast)

    body = await compare(client, viewer, fast, slow)  # the order asked is kept
    assert [(r["id"], r["workflow"], r["workflow_version"], r["status"]) for r in body["runs"]] == [
        (fast, "train", 1, "succeeded"), (slow, "train", 1, "succeeded")
    ]  # fmt: skip
    assert all(r["duration"] > 0 and r["trigger"] == "manual" for r in body["runs"])

    params = by(body["params"], "name")
    assert params["lr"] == {"name": "lr", "values": {a: 0.1, b: 0.4}, "differs": True}
    assert params["epochs"] == {"name": "epochs", "values": {a: 5, b: 5}, "differs": False}

    metrics = by(body["metrics"], "key")
    assert list(metrics) == ["accuracy", "loss"]
    for run_id, lr in ((a, 0.1), (b, 0.4)):
        logged = metrics["loss"]["runs"][run_id]
        assert (logged["last"], logged["min"], logged["max"], logged["count"]) == (
            loss(lr)[-1], min(loss(lr)), max(loss(lr)), 5
        )  # fmt: skip
        assert [(x, value) for x, value, _ in logged["series"]] == list(enumerate(loss(lr)))
        assert logged["downsampled"] is False
        assert all(datetime.fromisoformat(at) for _, _, at in logged["series"])
        accuracy = metrics["accuracy"]["runs"][run_id]
        # Logged without a step: x is the point's index; last is the one logged last.
        assert [(x, value) for x, value, _ in accuracy["series"]] == [(0, 0.5), (1, 1 - lr)]
        summary = (accuracy["last"], accuracy["min"], accuracy["max"])
        assert summary == (1 - lr, min(0.5, 1 - lr), max(0.5, 1 - lr))

    outputs = by(body["outputs"], "task", "key")
    assert outputs["fit", "score"] == {"task": "fit", "key": "score",
                                       "values": {a: 0.9, b: 0.6}, "differs": True}  # fmt: skip
    assert outputs["fit", "model"]["differs"] is False

    tasks = by(body["tasks"], "key")
    assert list(tasks) == ["fit", "report"]  # the workflow's order
    for cell in [*tasks["fit"]["runs"].values(), *tasks["report"]["runs"].values()]:
        assert cell["status"] == "succeeded" and cell["attempts"] == 1 and cell["duration"] > 0


async def test_bad_ids_are_refused_naming_ids(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    viewer = accounts["viewer"]
    eleven = ",".join(str(i) for i in range(1, 12))
    cases = {"ids=1": "at least 2", "ids=3,3": "at least 2", "ids=": "commas", "ids=1,x": "commas",
             "ids=1,-2": "commas", "ids=1,1.5": "commas", f"ids={eleven}": "at most 10",
             "": "Field required"}  # fmt: skip
    for query, says in cases.items():
        response = await client.get(f"/api/v1/runs/compare?{query}", headers=viewer.headers)
        assert response.status_code == 422, (query, response.text)
        error = response.json()["errors"][0]
        assert error["field"] == "query.ids" and says in error["message"], (query, error)

    missing = await client.get("/api/v1/runs/compare?ids=999998,999999", headers=viewer.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "no runs 999998, 999999"
    assert (await client.get("/api/v1/runs/compare?ids=1,2")).status_code == 401
