"""The registry's routes over versions a real run logged: stages (one production, the
previous archived, history, audit, events), who may do what, lists and what a model's
users prevent (deleting it while deployed, deleting the workflow whose runs made it)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.models import Deployment, Event, TaskAttempt
from plait.executors.reports import ModelReport
from plait.models import registry
from tests.conftest import Account
from tests.support.models import create, error_of, py, run

Accounts = dict[str, Account]
THREE = """
import plait
import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.eye(4)
for c in (0.5, 1.0, 2.0):
    plait.log_model(LogisticRegression(C=c).fit(X, [0, 1, 0, 1]), "iris", sample=X[:2])
plait.log_model(LogisticRegression().fit(X, [0, 1, 0, 1]), "other", flavor="pickle",
                tags=["blue"])
"""
V = "/api/v1/models/iris/versions"


async def three_versions(client: httpx.AsyncClient, who: Account) -> dict[str, Any]:
    await create(client, who, [py("fit", THREE)])
    done = await run(client, who)
    assert done["status"] == "succeeded", error_of(done, "fit")
    return done


async def stage(
    client: httpx.AsyncClient, who: Account, n: int, to: str, comment: str = ""
) -> httpx.Response:
    return await client.post(f"{V}/{n}/stage", json={"stage": to, "comment": comment},
                             headers=who.headers)  # fmt: skip


async def stages(client: httpx.AsyncClient, who: Account) -> dict[int, str]:
    page = (await client.get(V, headers=who.headers)).json()
    return {v["version"]: v["stage"] for v in page["items"]}


async def test_one_version_in_production_and_the_previous_archived(
    client: httpx.AsyncClient, accounts: Accounts, app: FastAPI
) -> None:
    editor, viewer, admin = accounts["editor"], accounts["viewer"], accounts["admin"]
    await three_versions(client, editor)
    assert await stages(client, viewer) == {1: "none", 2: "none", 3: "none"}

    refused = await stage(client, viewer, 1, "production")
    assert refused.status_code == 403
    bad = await stage(client, editor, 1, "live")
    assert bad.status_code == 422
    assert "none, staging, production, archived" in bad.text

    first = await stage(client, editor, 1, "production", "first release")
    assert first.status_code == 200, first.text
    assert first.json()["stage"] == "production"
    assert (await stage(client, editor, 2, "staging")).status_code == 200
    second = await stage(client, editor, 2, "production")
    assert second.status_code == 200
    assert await stages(client, viewer) == {1: "archived", 2: "production", 3: "none"}
    model = (await client.get("/api/v1/models/iris", headers=viewer.headers)).json()
    assert model["production"] == 2 and model["stages"] == {"archived": 1, "production": 1}

    history = second.json()["lineage"]["stages"]
    assert [(h["from_stage"], h["to_stage"], h["user"]) for h in history] == [
        ("none", "staging", "ed"), ("staging", "production", "ed")]  # fmt: skip
    old = (await client.get(f"{V}/1", headers=viewer.headers)).json()["lineage"]["stages"]
    assert [(h["from_stage"], h["to_stage"], h["comment"]) for h in old] == [
        ("none", "production", "first release"), ("production", "archived",
                                                  "replaced by version 2")]  # fmt: skip
    # Archived and back.
    assert (await stage(client, editor, 1, "staging")).status_code == 200
    assert (await stages(client, viewer))[1] == "staging"

    audit = await client.get("/api/v1/audit", params={"action": "model.stage_changed"},
                             headers=admin.headers)  # fmt: skip
    moves = [(a["summary"]["version"], a["summary"]["stage"]) for a in audit.json()["items"]]
    assert sorted(moves) == sorted([(1, "production"), (2, "staging"), (2, "production"),
                                    (1, "archived"), (1, "staging")])  # fmt: skip
    async with app.state.plait.db.read() as session:
        moved = select(Event).where(Event.type == "model.stage_changed").order_by(Event.id)
        events = list(await session.scalars(moved))
        made = select(Event).where(Event.type == "model.version_created")
        created = list(await session.scalars(made))
    assert [(e.data["version"], e.data["from_stage"], e.data["stage"]) for e in events][-3:] == [
        (1, "production", "archived"),
        (2, "staging", "production"),
        (1, "archived", "staging"),
    ]
    assert all(e.data["model"] == "iris" for e in events)
    assert sorted((e.data["model"], e.data["version"]) for e in created) == [
        ("iris", 1), ("iris", 2), ("iris", 3), ("other", 1)]  # fmt: skip

    by_stage = await client.get("/api/v1/models", params={"stage": "production"},
                                headers=viewer.headers)  # fmt: skip
    assert [m["name"] for m in by_stage.json()["items"]] == ["iris"]
    wrong = await client.get("/api/v1/models", params={"stage": "live"}, headers=viewer.headers)
    assert wrong.status_code == 422


async def test_lists_pages_filters_and_edits(client: httpx.AsyncClient, accounts: Accounts) -> None:
    editor, viewer = accounts["editor"], accounts["viewer"]
    await three_versions(client, editor)
    page = (await client.get(V, params={"limit": 2}, headers=viewer.headers)).json()
    assert [v["version"] for v in page["items"]] == [3, 2]
    rest = await client.get(V, params={"limit": 2, "cursor": page["next_cursor"]},
                            headers=viewer.headers)  # fmt: skip
    assert [v["version"] for v in rest.json()["items"]] == [1]
    assert rest.json()["next_cursor"] is None
    other = (await client.get("/api/v1/models/other/versions/1", headers=viewer.headers)).json()
    assert other["flavor"] == "pickle"
    assert [f["name"] for f in other["files"]] == ["MLmodel.json", "model.pkl"]

    made = await client.post("/api/v1/models", json={"name": "empty", "description": "later"},
                             headers=editor.headers)  # fmt: skip
    assert made.status_code == 201 and made.json()["versions"] == 0
    again = await client.post("/api/v1/models", json={"name": "empty"}, headers=editor.headers)
    assert again.status_code == 409
    assert (await client.post("/api/v1/models", json={"name": "x"},
                              headers=viewer.headers)).status_code == 403  # fmt: skip
    names = await client.get("/api/v1/models", headers=viewer.headers)
    assert [m["name"] for m in names.json()["items"]] == ["empty", "iris", "other"]
    blue = await client.get("/api/v1/models", params={"tag": "blue"}, headers=viewer.headers)
    assert [m["name"] for m in blue.json()["items"]] == ["other"]
    found = await client.get("/api/v1/models", params={"q": "LATE"}, headers=viewer.headers)
    assert [m["name"] for m in found.json()["items"]] == ["empty"]
    first = await client.get("/api/v1/models", params={"limit": 1}, headers=viewer.headers)
    after = {"limit": 1, "cursor": first.json()["next_cursor"]}
    second = await client.get("/api/v1/models", params=after, headers=viewer.headers)
    assert [m["name"] for m in second.json()["items"]] == ["iris"]

    patched = await client.patch("/api/v1/models/iris", json={"tags": ["flowers"]},
                                 headers=editor.headers)  # fmt: skip
    assert patched.status_code == 200 and patched.json()["tags"] == ["flowers"]
    version = await client.patch(f"{V}/2", json={"description": "the good one"},
                                 headers=editor.headers)  # fmt: skip
    assert version.json()["description"] == "the good one"
    assert (await client.patch(f"{V}/2", json={"flavor": "onnx"},
                               headers=editor.headers)).status_code == 422  # fmt: skip
    assert (await client.get(f"{V}/9", headers=viewer.headers)).status_code == 404
    assert (await client.get("/api/v1/models/nope", headers=viewer.headers)).status_code == 404


async def test_deployed_models_and_workflows_that_made_models_are_not_deleted(
    client: httpx.AsyncClient, accounts: Accounts, app: FastAPI
) -> None:
    editor = accounts["editor"]
    done = await three_versions(client, editor)
    async with app.state.plait.db.write() as session:
        model = await registry.get_model(session, "iris")
        session.add(Deployment(name="iris-live", model_id=model.id, follow_stage="production"))
    gone = await client.delete("/api/v1/workflows/train", headers=editor.headers)
    assert gone.status_code == 409
    assert "iris v1, iris v2, iris v3, other v1" in gone.json()["detail"]
    deployed = await client.delete("/api/v1/models/iris", headers=editor.headers)
    assert deployed.status_code == 409 and "iris-live" in deployed.json()["detail"]
    not_theirs = accounts["other_editor"].headers
    assert (await client.delete("/api/v1/models/other", headers=not_theirs)).status_code == 403
    assert (await client.delete("/api/v1/models/other", headers=editor.headers)).status_code == 204
    async with app.state.plait.db.write() as session:
        for row in await session.scalars(select(Deployment)):
            await session.delete(row)
    assert (await client.delete("/api/v1/models/iris", headers=editor.headers)).status_code == 204
    assert (
        await client.delete("/api/v1/workflows/train", headers=editor.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/runs/{done['id']}", headers=editor.headers)
    ).status_code == 404


async def test_two_registrations_at_once_take_the_next_numbers(
    client: httpx.AsyncClient, accounts: Accounts, app: FastAPI
) -> None:
    """The second writer takes number 1 too, is refused by the unique (model, version) when
    the first commits (PostgreSQL; SQLite has one writer at a time) and takes 2."""
    editor = accounts["editor"]
    await create(client, editor, [py("fit", "print('no model')")])
    done = await run(client, editor)
    db = app.state.plait.db
    async with db.read() as session:
        attempt = await session.scalar(select(TaskAttempt).where(TaskAttempt.run_id == done["id"]))
    assert attempt is not None
    files = [{"name": "MLmodel.json", "size": 2, "sha256": "0" * 64}]

    async def register(artifact: str, pause: float, hold: float) -> None:
        await asyncio.sleep(pause)
        report = ModelReport(attempt_id=attempt.id, name="iris", artifact=artifact,
                             flavor="pickle", key=f"{done['id']}/fit/1/{artifact}",
                             files=files)  # fmt: skip
        async with db.write() as session:
            mine = await session.get(TaskAttempt, attempt.id)
            assert mine is not None
            await registry.register(session, mine, report)
            await asyncio.sleep(hold)  # the other one registers meanwhile

    # Both make the model (one wins, the other finds it), then both number a version.
    await asyncio.gather(register("model-a", 0, 0.5), register("model-b", 0.1, 0))
    page = (await client.get(V, headers=editor.headers)).json()["items"]
    assert sorted(v["version"] for v in page) == [1, 2]
    # The model exists: both read 2 as the newest and take 3; the second is refused, takes 4.
    await asyncio.gather(register("model-c", 0, 0.5), register("model-d", 0.1, 0))
    page = (await client.get(V, headers=editor.headers)).json()["items"]
    assert sorted(v["version"] for v in page) == [1, 2, 3, 4]
    assert [
        m["name"]
        for m in (await client.get("/api/v1/models", headers=editor.headers)).json()["items"]
    ] == ["iris"]
