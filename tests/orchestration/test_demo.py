"""The quickstart's demo workflow is a real ML pipeline, ships paused, and succeeds out of the
box when started by hand."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from plait.api.app import load_demo
from plait.db.models import User
from tests.conftest import Account
from tests.orchestration.test_engine import task, wait


async def test_the_demo_pipeline_trains_and_evaluates_a_model(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    async with app.state.plait.db.read() as session:
        admin = await session.get(User, accounts["admin"].id)
    assert admin is not None
    await load_demo(app.state.plait.db, admin)
    h = accounts["editor"].headers
    # Paused: a first start runs nothing on its own; a manual run still works.
    demo = (await client.get("/api/v1/workflows/iris-pipeline", headers=h)).json()
    assert demo["paused"] is True and demo["schedule"] == "0 6 * * *"
    started = await client.post("/api/v1/workflows/iris-pipeline/runs",
                                json={"params": {"n_estimators": 20}}, headers=h)  # fmt: skip
    assert started.status_code == 201, started.text
    run = await wait(client, accounts["editor"], started.json()["id"], within=60)
    assert run["status"] == "succeeded", run
    assert task(run, "evaluate")["attempts"][0]["outputs"]["accuracy"] > 0.85
    metrics = (await client.get(f"/api/v1/runs/{run['id']}/metrics", headers=h)).json()
    by_trees = [m for m in metrics if m["key"] == "accuracy_by_trees"]
    assert [m["step"] for m in by_trees] == list(range(1, 21))
    artifacts = (await client.get(f"/api/v1/runs/{run['id']}/artifacts", headers=h)).json()
    assert {a["name"] for a in artifacts} == {"split.npz", "model.pkl"}
