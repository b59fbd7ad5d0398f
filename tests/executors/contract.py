"""The executor contract: what every executor must do, seen from the API a user watches.

An executor's test module imports these tests and provides the fixtures `app`, `client` and
`accounts` for a server whose scheduler dispatches to that executor (for a remote one, with
its workers running). The tests know nothing of the executor: they trigger runs and read
what the API shows, so the same cases hold for the local executor, the fake one and Celery.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from plait.db.models import Run, TaskAttempt
from plait.orchestration.apply import build_dispatch
from tests.conftest import Account
from tests.orchestration.test_engine import task, wait
from tests.support.workflows import create_workflow

# What an executor's test module takes with `from tests.executors.contract import *`.
__all__ = [
    "test_a_failure_is_retried_by_policy_then_fails_with_its_error",
    "test_a_task_past_its_timeout_is_stopped_and_fails",
    "test_cancel_stops_a_running_task",
    "test_never_more_tasks_at_once_than_it_has_room_for",
    "test_one_attempt_dispatched_twice_runs_once",
    "test_records_reach_the_api_and_outputs_flow_downstream",
]
SDK = "import plait\n"


async def run_of(
    client: httpx.AsyncClient, who: Account, tasks: list[dict[str, Any]], name: str = "contract",
    **doc: Any,
) -> int:  # fmt: skip
    await create_workflow(client, who, name=name, params={}, tasks=tasks, **doc)
    started = await client.post(f"/api/v1/workflows/{name}/runs", json={}, headers=who.headers)
    assert started.status_code == 201, started.text
    run_id: int = started.json()["id"]
    return run_id


async def until_running(client: httpx.AsyncClient, who: Account, run_id: int, key: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = (await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)).json()
        if task(run, key)["status"] == "running":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {key} of run {run_id} never started")


async def test_records_reach_the_api_and_outputs_flow_downstream(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    who = accounts["editor"]
    produce = SDK + (
        "print('hello from the task')\n"
        "plait.set_output('n', 41)\n"
        "plait.log_metric('loss', 0.5, step=1)\n"
        "open('model.txt', 'w').write('weights')\n"
        "plait.log_artifact('model.txt')\n"
    )
    consume = SDK + "print('got', plait.inputs()['produce']['n'] + 1)\n"
    run_id = await run_of(client, who, [
        {"key": "produce", "kind": "python", "code": produce},
        {"key": "consume", "kind": "python", "code": consume, "depends_on": ["produce"]},
    ])  # fmt: skip

    run = await wait(client, who, run_id, within=60)

    assert run["status"] == "succeeded", run
    assert task(run, "produce")["attempts"][-1]["outputs"] == {"n": 41}
    base = f"/api/v1/runs/{run_id}"
    logs = await client.get(f"{base}/tasks/consume/logs", headers=who.headers)
    assert "got 42" in logs.json()["content"]
    first = await client.get(f"{base}/tasks/produce/logs", headers=who.headers)
    assert "hello from the task" in first.json()["content"]
    metrics = (await client.get(f"{base}/metrics", headers=who.headers)).json()
    assert [(m["key"], m["value"], m["step"]) for m in metrics] == [("loss", 0.5, 1)]
    artifacts = (await client.get(f"{base}/artifacts", headers=who.headers)).json()
    assert [a["name"] for a in artifacts] == ["model.txt"]
    download = await client.get(f"{base}/artifacts/{artifacts[0]['id']}", headers=who.headers)
    assert download.content == b"weights"


async def test_a_failure_is_retried_by_policy_then_fails_with_its_error(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    who = accounts["editor"]
    code = "import sys\nprint('bad input', file=sys.stderr)\nsys.exit(3)\n"
    run_id = await run_of(client, who, [
        {"key": "flaky", "kind": "python", "code": code, "retries": 1, "retry_delay": 0},
    ])  # fmt: skip

    run = await wait(client, who, run_id, within=60)

    assert run["status"] == "failed"
    attempts = task(run, "flaky")["attempts"]
    assert [a["status"] for a in attempts] == ["up_for_retry", "failed"]
    assert all(a["exit_code"] == 3 for a in attempts)
    assert "bad input" in attempts[-1]["error"]


async def test_cancel_stops_a_running_task(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    who = accounts["editor"]
    run_id = await run_of(client, who, [
        {"key": "long", "kind": "python", "code": "import time\ntime.sleep(120)\n"},
        {"key": "after", "kind": "shell", "command": "echo never", "depends_on": ["long"]},
    ])  # fmt: skip
    await until_running(client, who, run_id, "long")

    cancel = await client.post(f"/api/v1/runs/{run_id}/cancel", headers=who.headers)
    run = await wait(client, who, run_id, within=30)

    assert cancel.status_code == 202, cancel.text
    assert run["status"] == "cancelled"
    assert task(run, "long")["status"] == "cancelled"
    assert task(run, "after")["status"] == "cancelled"


async def test_a_task_past_its_timeout_is_stopped_and_fails(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    who = accounts["editor"]
    run_id = await run_of(client, who, [
        {"key": "slow", "kind": "shell", "command": "sleep 120", "timeout": 1},
    ])  # fmt: skip

    run = await wait(client, who, run_id, within=60)

    assert run["status"] == "failed"
    assert "timed out" in task(run, "slow")["attempts"][-1]["error"]


async def test_one_attempt_dispatched_twice_runs_once(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], tmp_path: Path
) -> None:
    """A duplicate dispatch (a message a broker delivered twice, a scheduler retrying a
    submit) must not run the task again: the second start is refused."""
    who = accounts["editor"]
    marker = tmp_path / "ran.txt"
    # Long enough that the second dispatch surely lands while the first runs.
    code = f"import time\nopen({str(marker)!r}, 'a').write('x')\ntime.sleep(3)\n"
    run_id = await run_of(client, who, [{"key": "once", "kind": "python", "code": code}])
    await until_running(client, who, run_id, "once")

    plait = app.state.plait
    async with plait.db.read() as session:
        run = await session.get(Run, run_id)
        attempt = (await session.execute(
            TaskAttempt.__table__.select().where(TaskAttempt.run_id == run_id)
        )).first()  # fmt: skip
        assert run is not None and attempt is not None
        row = await session.get(TaskAttempt, attempt.id)
        assert row is not None
        job = await build_dispatch(session, plait.scheduler.plans, run, row)
    await plait.scheduler.executor.submit(job)
    done = await wait(client, who, run_id, within=60)
    await asyncio.sleep(1.5)  # a second run, had it started, would have written by now

    assert done["status"] == "succeeded"
    assert marker.read_text() == "x"
    assert len(task(done, "once")["attempts"]) == 1


async def test_never_more_tasks_at_once_than_it_has_room_for(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    """With room for two, four independent tasks run two at a time."""
    who = accounts["editor"]
    app.state.plait.settings.max_parallel_tasks = 2
    tasks = [{"key": f"t{i}", "kind": "shell", "command": "sleep 0.5"} for i in range(4)]
    run_id = await run_of(client, who, tasks)

    run = await wait(client, who, run_id, within=60)

    assert run["status"] == "succeeded"
    spans = [(a["started_at"], a["finished_at"]) for t in run["tasks"] for a in t["attempts"]]
    for start, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= start < e)
        assert overlapping <= 2, spans
