"""POST /api/v1/chat end to end: sessions, follow-ups, who sees what, confirming."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from plait.db.models import ChatSession
from tests.api.test_workflows import Accounts
from tests.support.chat import make_world, say, until_ended

ASK = "train the iris classifier with 200 trees and max depth 5 on dataset flowers v2"


async def test_chat_confirm_starts_the_run_with_those_params(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    first = (await say(client, editor, ASK)).json()
    assert first["proposal"]["complete"] is True
    assert "I understood: workflow iris-training" in first["reply"]
    sid = first["session_id"]
    second = (await say(client, editor, "make it 300 trees", sid)).json()
    assert second["proposal"]["params"]["n_estimators"] == 300
    runs_before = (await client.get("/api/v1/runs", headers=editor.headers)).json()["items"]
    assert runs_before == []  # nothing starts before a confirm

    started = await client.post(f"/api/v1/chat/sessions/{sid}/confirm", headers=editor.headers)
    assert started.status_code == 200, started.text
    run_id = started.json()["run_id"]
    assert started.headers["Location"] == f"/api/v1/runs/{run_id}"
    assert started.json()["proposal"]["done"] is True
    run = await until_ended(client, editor, run_id)
    assert run["status"] == "succeeded", run
    assert run["workflow"] == "iris-training"
    assert run["params"] == {"n_estimators": 300, "max_depth": 5, "dataset": "flowers",
                             "dataset_version": 2, "test_size": 0.25, "learning_rate": 0.1,
                             "seed": 0}  # fmt: skip
    logs = await client.get(f"/api/v1/runs/{run_id}/tasks/fit/logs", headers=editor.headers)
    assert "trees 300 depth 5" in logs.text

    again = await client.post(f"/api/v1/chat/sessions/{sid}/confirm", headers=editor.headers)
    assert again.json()["run_id"] == run_id  # a double click starts one run
    yes = (await say(client, editor, "yes", sid)).json()
    assert yes["run_id"] == run_id and "already" in yes["reply"]
    all_runs = (await client.get("/api/v1/runs", headers=editor.headers)).json()["items"]
    assert [r["id"] for r in all_runs] == [run_id]


async def test_yes_starts_a_complete_proposal_and_a_follow_up_proposes_the_next(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    sid = (await say(client, editor, "batch inference with batch size 64")).json()["session_id"]
    go = (await say(client, editor, "Run it!", sid)).json()
    assert go["run_id"] is not None and f"Started run {go['run_id']}" in go["reply"]
    nxt = (await say(client, editor, "now with batch size 128", sid)).json()
    assert nxt["proposal"]["done"] is False and nxt["proposal"]["params"]["batch_size"] == 128
    second = (await say(client, editor, "go", sid)).json()
    assert second["run_id"] not in (None, go["run_id"])
    run = (await client.get(f"/api/v1/runs/{second['run_id']}", headers=editor.headers)).json()
    assert run["params"]["batch_size"] == 128


async def test_concurrent_confirms_start_one_run(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    sid = (await say(client, editor, "batch inference")).json()["session_id"]
    url = f"/api/v1/chat/sessions/{sid}/confirm"
    key = {"Idempotency-Key": "click-1"}
    answers = await asyncio.gather(
        *(client.post(url, headers={**editor.headers, **key}) for _ in range(3))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["run_id"] for a in answers}) == 1
    listed = (await client.get("/api/v1/runs", headers=editor.headers)).json()["items"]
    assert len(listed) == 1


async def test_nothing_complete_is_not_started(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    asked = (await say(client, editor, "iris training with 5000 trees on flowers")).json()
    assert asked["proposal"]["complete"] is False
    assert "n_estimators: must be <= 1000 (allowed: 1 to 1000)." in asked["questions"]
    url = f"/api/v1/chat/sessions/{asked['session_id']}/confirm"
    refused = await client.post(url, headers=editor.headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    yes = (await say(client, editor, "yes", asked["session_id"])).json()
    assert "run_id" not in yes or yes["run_id"] is None
    assert "nothing complete" in yes["reply"]
    nothing = (await say(client, editor, "go")).json()  # a new session: nothing to start
    assert "Which workflow?" in nothing["reply"]
    assert (await client.get("/api/v1/runs", headers=editor.headers)).json()["items"] == []


async def test_a_viewer_may_ask_but_not_start(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    await make_world(client, accounts["editor"])
    viewer = accounts["viewer"]
    proposed = await say(client, viewer, "batch inference with batch size 10")
    assert proposed.status_code == 200 and proposed.json()["proposal"]["complete"] is True
    sid = proposed.json()["session_id"]
    refused = await client.post(f"/api/v1/chat/sessions/{sid}/confirm", headers=viewer.headers)
    assert refused.status_code == 403
    yes = await say(client, viewer, "yes", sid)
    assert yes.status_code == 403
    assert "editor" in yes.json()["detail"]
    assert (await client.get("/api/v1/runs", headers=viewer.headers)).json()["items"] == []


async def test_a_session_is_its_users_only(client: httpx.AsyncClient, accounts: Accounts) -> None:
    await make_world(client, accounts["editor"])
    mine = (await say(client, accounts["editor"], "batch inference")).json()["session_id"]
    other = accounts["other_editor"]
    assert (await client.get(f"/api/v1/chat/sessions/{mine}", headers=other.headers)
            ).status_code == 404  # fmt: skip
    assert (await say(client, other, "make it 5", mine)).status_code == 404
    confirm = await client.post(f"/api/v1/chat/sessions/{mine}/confirm", headers=other.headers)
    assert confirm.status_code == 404
    own = await client.get(f"/api/v1/chat/sessions/{mine}", headers=accounts["editor"].headers)
    assert own.status_code == 200 and own.json()["proposal"]["workflow"] == "batch-inference"


async def test_messages_are_bounded_and_old_sessions_expire(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    sid = (await say(client, editor, "batch inference")).json()["session_id"]
    for n in range(1, 13):
        await say(client, editor, f"batch size {n}", sid)
    kept = (await client.get(f"/api/v1/chat/sessions/{sid}", headers=editor.headers)).json()
    assert len(kept["messages"]) == 20
    assert kept["messages"][-2] == {**kept["messages"][-2], "role": "user", "text": "batch size 12"}
    assert kept["proposal"]["params"]["batch_size"] == 12

    async with app.state.plait.db.write() as session:
        old = datetime.now(UTC) - timedelta(days=1, minutes=1)
        await session.execute(
            update(ChatSession).where(ChatSession.id == sid).values(updated_at=old)
        )
    gone = await client.get(f"/api/v1/chat/sessions/{sid}", headers=editor.headers)
    assert gone.status_code == 404
    await say(client, editor, "hello")  # a new message prunes expired sessions
    async with app.state.plait.db.read() as session:
        assert await session.get(ChatSession, sid) is None


async def test_a_template_is_made_into_a_workflow_and_run(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    said = (await say(client, editor, "the hyperparameter sweep template with 3 boosting stages"
                      " and depth 2")).json()  # fmt: skip
    assert said["proposal"]["kind"] == "template" and said["proposal"]["complete"] is True
    sid = said["session_id"]
    started = (await client.post(f"/api/v1/chat/sessions/{sid}/confirm",
                                 headers=editor.headers)).json()  # fmt: skip
    run = (await client.get(f"/api/v1/runs/{started['run_id']}", headers=editor.headers)).json()
    assert run["workflow"] == f"hyperparameter-sweep-chat-{sid}"
    assert started["proposal"]["workflow"] == run["workflow"]
    assert run["params"]["n_estimators"] == 3 and run["params"]["max_depth"] == 2
    await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=editor.headers)


async def test_bounded_input(client: httpx.AsyncClient, accounts: Accounts) -> None:
    long = await say(client, accounts["editor"], "x" * 2001)
    assert long.status_code == 422
    assert long.json()["errors"][0]["field"] == "message"
    empty = await say(client, accounts["editor"], "")
    assert empty.status_code == 422
    missing = await say(client, accounts["editor"], "hello", 10**6)
    assert missing.status_code == 404


async def test_confirm_with_edited_params(client: httpx.AsyncClient, accounts: Accounts) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    asked = (await say(client, editor, "iris training with 200 trees")).json()
    assert asked["proposal"]["complete"] is False  # no dataset yet
    url = f"/api/v1/chat/sessions/{asked['session_id']}/confirm"
    wrong = await client.post(url, json={"params": {"n_estimators": 0, "dataset": "flowers"}},
                              headers=editor.headers)  # fmt: skip
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["params.n_estimators"]
    assert wrong.json()["errors"][0]["message"] == "must be >= 1"
    edited = {"n_estimators": 150, "dataset": "flowers", "dataset_version": 1}
    started = await client.post(url, json={"params": edited}, headers=editor.headers)
    assert started.status_code == 200, started.text
    run = (await client.get(f"/api/v1/runs/{started.json()['run_id']}",
                            headers=editor.headers)).json()  # fmt: skip
    assert run["params"]["n_estimators"] == 150 and run["params"]["dataset_version"] == 1
