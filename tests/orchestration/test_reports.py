"""Reports are applied per attempt: one that cannot be recorded (whatever the reason: a bug,
a bound a database enforces and a check missed) fails its own attempt, and the reports of
other attempts in the same batch are recorded all the same."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from plait.executors.reports import MetricReport, Output
from plait.orchestration.scheduler import Scheduler
from tests.conftest import Account
from tests.orchestration.test_engine import py, start, task, wait

HANG = "import time\nwhile True:\n    time.sleep(0.05)"


async def running_attempt(client: httpx.AsyncClient, who: Account, run_id: int) -> int:
    for _ in range(400):
        run: dict[str, Any] = (
            await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)
        ).json()
        attempts = task(run, "t")["attempts"]
        if attempts and attempts[0]["status"] == "running":
            attempt_id: int = attempts[0]["id"]
            return attempt_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never ran its task")


async def test_a_report_that_cannot_be_recorded_fails_its_attempt_alone(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    broken_run = await start(client, editor, [py("t", HANG)], name="broken")
    fine_run = await start(client, editor, [py("t", HANG)], name="fine")
    broken = await running_attempt(client, editor, broken_run["id"])
    fine = await running_attempt(client, editor, fine_run["id"])
    scheduler: Scheduler = app.state.plait.scheduler
    # Built without validation: it stands for whatever a future bug lets through.
    fields: dict[str, Any] = {"attempt_id": broken, "key": "loss", "value": None}
    unrecordable = MetricReport.model_construct(**fields)

    await scheduler._apply([unrecordable, Output(attempt_id=fine, key="n", value=7)])

    failed = await wait(client, editor, broken_run["id"])
    attempt = task(failed, "t")["attempts"][0]
    assert (failed["status"], attempt["status"]) == ("failed", "failed")
    assert attempt["error"] == "lost: Plait could not record its reports (see the server log)"
    run = (await client.get(f"/api/v1/runs/{fine_run['id']}", headers=editor.headers)).json()
    assert task(run, "t")["attempts"][0]["outputs"] == {"n": 7}
    assert run["status"] == "running"
