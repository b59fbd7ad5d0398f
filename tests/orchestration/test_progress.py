"""Progress from the SDK to the API and the event stream, its time-left estimate, and exits
by signal shown by name."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from plait import sdk
from plait.db.models import TaskAttempt
from plait.executors.reports import Intake, Rejected, accept, exit_signal
from plait.orchestration.runs import eta_seconds
from tests.conftest import Account
from tests.events.test_ws import start_run, subscribe, token, until
from tests.orchestration.test_engine import py, start, task, wait

Accounts = dict[str, Account]


def _waits_for(path: Path) -> str:
    return f"import os, time\nwhile not os.path.exists({str(path)!r}):\n    time.sleep(0.05)\n"


async def test_progress_reaches_the_api_and_the_event_stream_with_time_left(
    live_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    code = (
        "import plait, time\n"
        "plait.progress(0.1, 'warming up')\n"
        "time.sleep(1.0)\n"  # events of an attempt are ~2 a second at most: this one goes out
        "plait.progress(0.5, 'epoch 2/4')\n" + _waits_for(go)
    )
    bearer = await token(live_url)
    async with websockets.connect(f"ws://{live_url}/ws?token={bearer}") as ws:
        await subscribe(ws, ["*"])
        run_id = await start_run(live_url, bearer, [py("train", code)])
        event = await until(
            ws, lambda m: m.get("type") == "task.progress" and m["data"]["progress"] == 0.5
        )
    assert event["run_id"] == run_id and event["workflow_id"] is not None
    data = event["data"]
    assert (data["task_key"], data["attempt"], data["message"]) == ("train", 1, "epoch 2/4")
    assert data["eta_seconds"] > 0
    auth = {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=f"http://{live_url}", headers=auth) as http:
        running = (await http.get(f"/api/v1/runs/{run_id}")).json()
        attempt = task(running, "train")["attempts"][0]
        assert (attempt["progress"], attempt["progress_message"]) == (0.5, "epoch 2/4")
        assert attempt["eta_seconds"] > 0
        go.touch()
        for _ in range(600):
            done = (await http.get(f"/api/v1/runs/{run_id}")).json()
            if done["status"] == "succeeded":
                break
            await asyncio.sleep(0.05)
    finished = task(done, "train")["attempts"][0]
    assert done["status"] == "succeeded"
    assert finished["progress"] == 0.5 and finished["eta_seconds"] is None


async def test_a_progress_right_after_another_still_reaches_the_event_stream(
    live_url: str, tmp_path: Path
) -> None:
    """Events are held to ~2 a second per attempt; the one held back goes out later (with
    the attempt's next heartbeat), so a page never stays on a stale value."""
    go = tmp_path / "go"
    code = (
        "import plait, time\n"
        "plait.progress(0.3, 'epoch 3/10')\n"
        "time.sleep(0.15)\n"  # read in another batch, well within the same half second
        "plait.progress(0.4, 'epoch 4/10')\n" + _waits_for(go)
    )
    bearer = await token(live_url)
    async with websockets.connect(f"ws://{live_url}/ws?token={bearer}") as ws:
        await subscribe(ws, ["*"])
        await start_run(live_url, bearer, [py("train", code)])
        event = await until(
            ws, lambda m: m.get("type") == "task.progress" and m["data"]["progress"] == 0.4
        )
        go.touch()
    assert event["data"]["message"] == "epoch 4/10"


def test_the_time_left_is_the_time_so_far_at_the_same_pace() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    attempt = TaskAttempt(status="running", started_at=now - timedelta(seconds=100), progress=0.25)
    assert eta_seconds(attempt, now) == 300.0
    attempt.progress = 0.8
    assert eta_seconds(attempt, now) == 25.0
    for progress in (None, 0.0, 1.0):  # nothing to go by, or nothing left
        attempt.progress = progress
        assert eta_seconds(attempt, now) is None
    attempt.progress, attempt.status = 0.5, "succeeded"
    assert eta_seconds(attempt, now) is None


def test_the_sdk_refuses_a_fraction_outside_0_to_1_and_a_long_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("PLAIT_EVENTS", str(events))
    for bad in (-0.1, 1.01, math.nan, math.inf, "0.5", True):
        with pytest.raises(ValueError, match="from 0 to 1"):
            sdk.progress(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most 200 characters"):
        sdk.progress(0.5, "x" * 201)
    sdk.progress(1, "done")
    written = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(r["type"], r["fraction"], r["message"]) for r in written] == [
        ("progress", 1.0, "done")
    ]


def test_the_server_refuses_a_progress_record_out_of_bounds(tmp_path: Path) -> None:
    intake = Intake(attempt_id=1, artifacts=tmp_path)
    good = accept(b'{"type": "progress", "fraction": 0.3, "message": "a"}', intake)
    assert good.model_dump()["fraction"] == 0.3
    with pytest.raises(Rejected, match="progress: fraction"):
        accept(b'{"type": "progress", "fraction": 3}', intake)
    with pytest.raises(Rejected, match="progress: message"):
        accept(json.dumps({"type": "progress", "fraction": 0.1, "message": "m" * 201}).encode(),
               intake)  # fmt: skip


async def test_an_attempt_killed_by_a_signal_says_which(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    tasks: list[dict[str, Any]] = [
        py("py", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)"),
        {"key": "sh", "kind": "shell", "command": "sh -c 'kill -TERM $$'; exit $?"},
        {"key": "plain", "kind": "shell", "command": "exit 3"},
    ]
    run = await start(client, accounts["editor"], tasks)
    done = await wait(client, accounts["editor"], run["id"])
    by_python = task(done, "py")["attempts"][0]
    assert (by_python["exit_code"], by_python["exit_signal"]) == (-15, "SIGTERM")
    assert by_python["error"] == "killed by SIGTERM"
    by_shell = task(done, "sh")["attempts"][0]
    assert (by_shell["exit_code"], by_shell["exit_signal"]) == (143, "SIGTERM")
    assert by_shell["error"].startswith("killed by SIGTERM (exit code 143)")
    plain = task(done, "plain")["attempts"][0]
    assert (plain["exit_signal"], plain["error"]) == (None, "exit code 3")


def test_exit_codes_name_their_signal() -> None:
    assert [exit_signal(c) for c in (-15, -9, 137, 130, 0, 1, 128, -1, None)] == [
        "SIGTERM", "SIGKILL", "SIGKILL", "SIGINT", None, None, None, None, None,
    ]  # fmt: skip
