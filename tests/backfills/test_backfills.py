"""Backfills through the API: one run per fire time across DST changes (each with its
logical date), at most `max_parallel` at once, cancel, retry, and the requests refused."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.models import Event
from tests.conftest import Account
from tests.support.backfills import backfill, iso, scheduled, until_ended, utc

Accounts = dict[str, Account]
BERLIN = ZoneInfo("Europe/Berlin")
LOGICAL = "import plait\nplait.set_output('logical', plait.logical_date().isoformat())"


async def test_each_fire_time_across_both_dst_changes_runs_once_with_its_logical_date(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    await scheduled(client, ed, "nightly", "30 2 * * *", LOGICAL, max_active_runs=4)
    spring = await backfill(client, ed, "nightly", "2026-03-28", "2026-03-30", max_parallel=4)
    autumn = await backfill(client, ed, "nightly", "2026-10-24", "2026-10-26", max_parallel=4)
    assert spring.status_code == autumn.status_code == 201, spring.text
    assert spring.headers["location"] == f"/api/v1/backfills/{spring.json()['id']}"
    # 02:30 does not exist on 29 March (clocks jump 02:00 -> 03:00): it fires after the gap;
    # on 25 October 02:30 happens twice (CEST, then CET): both fire.
    expected = {
        spring.json()["id"]: utc("2026-03-28T01:30:00", "2026-03-29T01:00:00",
                                 "2026-03-30T00:30:00"),
        autumn.json()["id"]: utc("2026-10-24T00:30:00", "2026-10-25T00:30:00",
                                 "2026-10-25T01:30:00", "2026-10-26T01:30:00"),
    }  # fmt: skip
    for backfill_id, times in expected.items():
        done = await until_ended(client, ed, backfill_id)
        assert done["status"] == "succeeded", done
        assert done["total"] == len(times) and done["skipped"] == []
        assert done["counts"] == {"queued": 0, "running": 0, "succeeded": len(times),
                                  "failed": 0, "cancelled": 0}  # fmt: skip
        assert iso([r["scheduled_for"] for r in done["runs"]]) == iso(times)
        for made in done["runs"]:
            run = (await client.get(f"/api/v1/runs/{made['id']}", headers=ed.headers)).json()
            assert (run["trigger"], run["backfill_id"]) == ("backfill", backfill_id)
            logical = datetime.fromisoformat(run["tasks"][0]["attempts"][0]["outputs"]["logical"])
            assert logical == datetime.fromisoformat(made["scheduled_for"])
            assert logical.utcoffset() == logical.astimezone(BERLIN).utcoffset()  # Berlin's
    runs = (await client.get("/api/v1/runs", params={"workflow": "nightly", "limit": 100},
                             headers=ed.headers)).json()["items"]  # fmt: skip
    assert len(runs) == 7
    again = await backfill(client, ed, "nightly", "2026-10-24", "2026-10-26")
    assert again.status_code == 201
    assert again.json()["total"] == 0 and again.json()["status"] == "succeeded"
    assert iso(again.json()["skipped"]) == iso(expected[autumn.json()["id"]])


async def test_at_most_max_parallel_runs_of_a_backfill_run_at_once(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    ed, gate = accounts["editor"], tmp_path / "gate"
    wait_gate = f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)"
    await scheduled(client, ed, "daily", "0 6 * * *", wait_gate, max_active_runs=10)
    made = await backfill(client, ed, "daily", "2026-05-01", "2026-05-05", max_parallel=2)
    assert made.status_code == 201 and made.json()["total"] == 5
    backfill_id = made.json()["id"]
    seen_running = 0
    for _ in range(50):  # both slots taken, then a dozen looks (scheduler ticks) more
        counts = (await client.get(f"/api/v1/backfills/{backfill_id}", headers=ed.headers)).json()[
            "counts"
        ]
        assert counts["running"] <= 2, counts
        seen_running = seen_running + 1 if counts["running"] == 2 else 0
        if seen_running > 12:
            break
        await asyncio.sleep(0.1)
    assert counts == {"queued": 3, "running": 2, "succeeded": 0, "failed": 0, "cancelled": 0}
    gate.touch()
    done = await until_ended(client, ed, backfill_id)
    assert done["status"] == "succeeded" and done["counts"]["succeeded"] == 5
    first_two = [r["id"] for r in done["runs"][:2]]  # the oldest fire times went first
    runs = [(await client.get(f"/api/v1/runs/{i}", headers=ed.headers)).json() for i in first_two]
    later = (await client.get(f"/api/v1/runs/{done['runs'][2]['id']}", headers=ed.headers)).json()
    assert all(r["started_at"] < later["started_at"] for r in runs)


async def test_cancel_then_retry_of_the_failed_and_cancelled(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    ed, gate, broken = accounts["editor"], tmp_path / "gate", tmp_path / "broken"
    broken.touch()
    code = (
        "import os, time\n"
        f"if os.path.exists({str(broken)!r}):\n    raise RuntimeError('input missing')\n"
        f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n"
    )
    await scheduled(client, ed, "etl", "0 6 * * *", code, max_active_runs=10)
    failing = (await backfill(client, ed, "etl", "2026-05-01", "2026-05-02", max_parallel=2)).json()
    failed = await until_ended(client, ed, failing["id"])
    assert failed["status"] == "failed" and failed["counts"]["failed"] == 2
    broken.unlink()
    waiting = (await backfill(client, ed, "etl", "2026-06-01", "2026-06-03")).json()
    cancel = await client.post(f"/api/v1/backfills/{waiting['id']}/cancel", headers=ed.headers)
    assert cancel.status_code == 202, cancel.text
    cancelled = await until_ended(client, ed, waiting["id"])
    assert cancelled["status"] == "cancelled" and cancelled["counts"]["cancelled"] == 3
    again = await client.post(f"/api/v1/backfills/{waiting['id']}/cancel", headers=ed.headers)
    assert again.status_code == 409 and "nothing to cancel" in again.json()["detail"]
    gate.touch()
    for backfill_id, runs in ((failing["id"], 2), (waiting["id"], 3)):
        retried = await client.post(f"/api/v1/backfills/{backfill_id}/retry", headers=ed.headers)
        assert retried.status_code == 200 and retried.json()["status"] == "running", retried.text
        done = await until_ended(client, ed, backfill_id)
        assert done["status"] == "succeeded" and done["counts"]["succeeded"] == runs, done
        none_left = await client.post(f"/api/v1/backfills/{backfill_id}/retry", headers=ed.headers)
        assert none_left.status_code == 409
        assert "no failed or cancelled runs" in none_left.json()["detail"]
    async with app.state.plait.db.read() as session:
        events = (
            await session.execute(select(Event).where(Event.type.like("backfill.%")))
        ).scalars()
        told = [(e.type, e.data["backfill_id"], e.data["status"]) for e in events]
    assert ("backfill.finished", failing["id"], "failed") in told
    assert ("backfill.finished", waiting["id"], "cancelled") in told
    assert ("backfill.finished", waiting["id"], "succeeded") in told
    assert ("backfill.created", failing["id"], "running") in told
    listed = await client.get("/api/v1/workflows/etl/backfills", headers=accounts["viewer"].headers)
    assert [b["id"] for b in listed.json()["items"]] == [waiting["id"], failing["id"]]
    assert "runs" not in listed.json()["items"][0]


async def test_requests_that_cannot_be_backfilled_are_refused_naming_the_field(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    await scheduled(client, ed, "minutely", "* * * * *", params={"n": {"type": "integer"}})
    made = await client.post("/api/v1/workflows", json={"name": "manual", "tasks": []},
                             headers=ed.headers)  # fmt: skip
    assert made.status_code == 201, made.text
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        ("manual", {}, "schedule", "no recurring schedule"),
        ("minutely", {"start": "2026-05-02", "end": "2026-05-01"}, "end", "is before start"),
        ("minutely", {"start": "2026-05-01", "end": "2026-05-01"}, "end", "1440 fire times"),
        ("minutely", {"start": "2026-02-30"}, "start", "is not a date"),
        ("minutely", {"end": "next tuesday"}, "end", "is not a date"),
        ("minutely", {"max_parallel": 33}, "max_parallel", "32"),
        ("minutely", {"params": {"m": 1}}, "params.m", "unknown parameter"),
    ]
    for name, change, field, words in cases:
        body = {"start": "2026-05-01T10:00", "end": "2026-05-01T10:05", **change}
        refused = await backfill(client, ed, name, **body)
        assert refused.status_code == 422, (change, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        errors = refused.json()["errors"]
        assert [e["field"] for e in errors] == [field], (change, errors)
        assert words in errors[0]["message"], (change, errors)
    viewer = await backfill(client, accounts["viewer"], "minutely", "2026-05-01", "2026-05-01")
    assert viewer.status_code == 403
    missing = await client.get("/api/v1/backfills/999", headers=ed.headers)
    assert missing.status_code == 404 and json.loads(missing.text)["detail"] == "no backfill 999"
