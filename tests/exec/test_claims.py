"""Claiming attempts and reporting on them over HTTP, as a remote worker does: the server
starts what it hands out once, hears of it from the token that claimed it only, and moves
the run on when a worker reports the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from plait.db.models import TaskAttempt
from tests.conftest import Account
from tests.exec.conftest import claim, queued_job, report, run_state, start_run, wait_status
from tests.support.workflows import create_workflow

TASKS = [
    {"key": "load", "kind": "python", "code": "print('load')"},
    {"key": "fit", "kind": "shell", "command": "echo fit", "depends_on": ["load"]},
]


async def _workflow(client: httpx.AsyncClient, who: Account) -> dict[str, object]:
    return await create_workflow(client, who, name="remote", tasks=TASKS)


async def test_a_worker_claims_reports_and_the_run_moves_on(
    client: httpx.AsyncClient, accounts: dict[str, Account], worker: dict[str, str], app: FastAPI
) -> None:
    editor = accounts["editor"]
    run = await start_run(client, editor, await _workflow(client, editor), lr=0.5)
    load = await queued_job(app, "load")

    claimed = await claim(client, worker, load.attempt_id)
    assert claimed.status_code == 200, claimed.text
    job = claimed.json()["job"]
    assert (job["task_key"], job["body"]) == ("load", "print('load')")
    assert job["params"] == {"lr": 0.5} and claimed.json()["heartbeat_seconds"] > 0
    # the run's logical date travels to the worker (a manual run's: when it was made)
    assert datetime.fromisoformat(job["logical_date"]) == datetime.fromisoformat(run["created_at"])

    answer = await report(
        client, worker, load.attempt_id,
        {"type": "heartbeat"},
        {"type": "metric", "key": "loss", "value": 0.25, "step": 1},
        {"type": "output", "key": "rows", "value": 150},
        {"type": "progress", "fraction": 0.5, "message": "half"},
    )  # fmt: skip
    assert answer.json() == {"cancel": False}
    shown = await run_state(client, editor, run["id"])
    attempt = shown["tasks"][0]["attempts"][0]
    assert (attempt["status"], attempt["worker"], attempt["outputs"]) == (
        "running", "box:7", {"rows": 150}
    )  # fmt: skip
    assert (attempt["progress"], attempt["progress_message"]) == (0.5, "half")
    metrics = await client.get(f"/api/v1/runs/{run['id']}/metrics", headers=editor.headers)
    assert [(m["key"], m["value"], m["step"]) for m in metrics.json()] == [("loss", 0.25, 1)]

    done = await report(client, worker, load.attempt_id, {"type": "exited", "exit_code": 0})
    assert done.json() == {"cancel": False}
    fit = await queued_job(app, "fit")  # the scheduler heard at once
    assert fit.inputs == {"load": {"rows": 150}}
    assert (await claim(client, worker, fit.attempt_id)).status_code == 200
    await report(client, worker, fit.attempt_id, {"type": "exited", "exit_code": 0})
    await wait_status(client, editor, run["id"], "succeeded")


async def test_a_claim_is_refused_once_started_elsewhere_ended_or_cancelled(
    client: httpx.AsyncClient,
    accounts: dict[str, Account],
    worker: dict[str, str],
    other_worker: dict[str, str],
    app: FastAPI,
) -> None:
    editor = accounts["editor"]
    wf = await _workflow(client, editor)
    run = await start_run(client, editor, wf)
    load = await queued_job(app, "load")
    assert (await claim(client, worker, load.attempt_id)).status_code == 200
    again = await claim(client, worker, load.attempt_id)  # a retry: the same job again
    assert again.status_code == 200 and again.json()["job"]["attempt_id"] == load.attempt_id

    elsewhere = await claim(client, other_worker, load.attempt_id)
    assert elsewhere.status_code == 409
    assert elsewhere.headers["content-type"] == "application/problem+json"
    assert elsewhere.json()["code"] == "attempt-not-queued"
    assert "already runs on box:7" in elsewhere.json()["detail"]

    await report(client, worker, load.attempt_id, {"type": "exited", "exit_code": 0})
    ended = await claim(client, worker, load.attempt_id, name="box:8")
    assert ended.status_code == 409 and "ended (succeeded)" in ended.json()["detail"]

    fit = await queued_job(app, "fit")
    cancel = await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=editor.headers)
    assert cancel.status_code in (200, 202), cancel.text
    await wait_status(client, editor, run["id"], "cancelled")
    cancelled = await claim(client, worker, fit.attempt_id)
    assert cancelled.status_code == 409 and "ended (cancelled)" in cancelled.json()["detail"]
    missing = await claim(client, worker, 10**9)
    assert missing.status_code == 404


async def test_only_the_claiming_token_reports_and_an_end_counts_once(
    client: httpx.AsyncClient,
    accounts: dict[str, Account],
    worker: dict[str, str],
    other_worker: dict[str, str],
    app: FastAPI,
) -> None:
    editor = accounts["editor"]
    run = await start_run(client, editor, await _workflow(client, editor))
    load = await queued_job(app, "load")
    before = await report(client, worker, load.attempt_id, {"type": "heartbeat"})
    assert before.status_code == 403, "not claimed yet"
    await claim(client, worker, load.attempt_id)
    stranger = await report(
        client, other_worker, load.attempt_id, {"type": "exited", "exit_code": 1}
    )
    assert stranger.status_code == 403
    assert (await run_state(client, editor, run["id"]))["tasks"][0]["status"] == "running"

    first = await report(client, worker, load.attempt_id, {"type": "exited", "exit_code": 3})
    assert first.status_code == 200
    twice = await report(client, worker, load.attempt_id, {"type": "exited", "exit_code": 0})
    assert twice.status_code == 409
    assert twice.json()["code"] == "final-report-twice"
    attempt = (await run_state(client, editor, run["id"]))["tasks"][0]["attempts"][0]
    assert (attempt["status"], attempt["exit_code"]) == ("failed", 3)


async def test_a_cancelled_run_tells_its_worker_to_stop(
    client: httpx.AsyncClient, accounts: dict[str, Account], worker: dict[str, str], app: FastAPI
) -> None:
    editor = accounts["editor"]
    run = await start_run(client, editor, await _workflow(client, editor))
    load = await queued_job(app, "load")
    await claim(client, worker, load.attempt_id)
    beat = {
        "worker": "box:7",
        "queues": ["default"],
        "concurrency": 1,
        "running": [load.attempt_id],
    }
    # Within zombie_seconds (30), or the scheduler would rightly call it lost meanwhile.
    long_ago = datetime.now(UTC) - timedelta(seconds=10)
    async with app.state.plait.db.write() as session:
        stale = update(TaskAttempt).where(TaskAttempt.id == load.attempt_id)
        await session.execute(stale.values(heartbeat_at=long_ago))
    heard = await client.post("/api/v1/exec/workers/heartbeat", json=beat, headers=worker)
    assert heard.json() == {"cancel": []}
    async with app.state.plait.db.read() as session:
        attempt = await session.get(TaskAttempt, load.attempt_id)
        assert attempt is not None and attempt.heartbeat_at is not None
        assert attempt.heartbeat_at > long_ago + timedelta(seconds=9), "the beat counts for it"

    await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=editor.headers)
    heard = await client.post("/api/v1/exec/workers/heartbeat", json=beat, headers=worker)
    assert heard.json() == {"cancel": [load.attempt_id]}
    assert (await report(client, worker, load.attempt_id, {"type": "heartbeat"})).json() == {
        "cancel": True
    }
    stopped = {"type": "exited", "exit_code": -15, "reason": "cancelled"}
    assert (await report(client, worker, load.attempt_id, stopped)).json() == {"cancel": False}
    await wait_status(client, editor, run["id"], "cancelled")


async def test_bad_reports_are_named_and_nothing_of_them_is_applied(
    client: httpx.AsyncClient, accounts: dict[str, Account], worker: dict[str, str], app: FastAPI
) -> None:
    editor = accounts["editor"]
    run = await start_run(client, editor, await _workflow(client, editor))
    load = await queued_job(app, "load")
    await claim(client, worker, load.attempt_id)
    bad = await report(
        client, worker, load.attempt_id,
        {"type": "output", "key": "ok", "value": 1},
        {"type": "metric", "key": "m", "value": "NaN"},
        {"type": "started", "pid": 1, "worker": "x"},
        {"type": "artifact", "name": "a", "path": "/etc/passwd", "size": 1},
        {"type": "exited", "exit_code": 0, "attempt_id": load.attempt_id + 1},
    )  # fmt: skip
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    fields = {e["field"].split(".")[0] for e in bad.json()["errors"]}
    assert fields == {"reports[1]", "reports[2]", "reports[3]", "reports[4]"}
    attempt = (await run_state(client, editor, run["id"]))["tasks"][0]["attempts"][0]
    assert (attempt["status"], attempt["outputs"]) == ("running", {})
    not_a_list = await client.post(
        f"/api/v1/exec/attempts/{load.attempt_id}/reports", json={"reports": {}}, headers=worker
    )
    assert not_a_list.status_code == 422
