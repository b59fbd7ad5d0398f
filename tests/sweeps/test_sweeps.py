"""Sweeps through the API: a grid on a real workflow names its best run from the metrics
the runs logged, at most `max_parallel` run at once, a seeded random search draws the same
again, and what is refused before any run is made."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from plait.db.models import AuditEvent, Event, Run
from tests.conftest import Account
from tests.support.sweeps import sweep, sweepable, until_ended

Accounts = dict[str, Account]
GRID = {"lr": [0.01, 0.05], "depth": [3, 5]}


def score(lr: float, depth: int) -> float:
    return -((lr - 0.05) ** 2) - 0.001 * (depth - 5) ** 2


async def test_a_grid_runs_each_combination_and_names_the_best_run_both_ways(
    app: Any, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    await sweepable(client, ed)
    made = await sweep(client, ed, grid=GRID, params={"dropout": 0.2}, max_parallel=2,
                       metric="score", direction="max")  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.headers["location"] == f"/api/v1/sweeps/{made.json()['id']}"
    done = await until_ended(client, ed, made.json()["id"])
    assert done["status"] == "succeeded" and done["total"] == 4, done
    assert done["counts"]["succeeded"] == 4
    assert [r["swept"] for r in done["rows"]] == [
        {"lr": 0.01, "depth": 3}, {"lr": 0.01, "depth": 5},
        {"lr": 0.05, "depth": 3}, {"lr": 0.05, "depth": 5},
    ]  # fmt: skip
    for row in done["rows"]:  # the real metrics each run logged, its params all there
        assert row["metrics"]["score"] == score(row["swept"]["lr"], row["swept"]["depth"])
        assert row["params"] == {**row["swept"], "dropout": 0.2, "n": 1, "label": "x"}
        assert row["duration"] is not None and row["status"] == "succeeded"
    assert done["best"]["swept"] == {"lr": 0.05, "depth": 5}
    assert (done["ranked_by"], done["ranked_direction"]) == ("score", "max")
    lowest = await until_ended(client, ed, done["id"], direction="min")
    assert lowest["best"]["swept"] == {"lr": 0.01, "depth": 3}
    by_depth = await until_ended(client, ed, done["id"], metric="depth_seen", direction="max")
    assert by_depth["best"]["swept"]["depth"] == 5
    unknown = await until_ended(client, ed, done["id"], metric="accuracy")
    assert unknown["best"] is None  # no run logged it: none is best
    run = (await client.get(f"/api/v1/runs/{done['best']['run_id']}", headers=ed.headers)).json()
    assert (run["trigger"], run["sweep_id"]) == ("sweep", done["id"])
    async with app.state.plait.db.read() as session:
        kinds = (await session.execute(select(Event.type))).scalars().all()
        audited = (await session.execute(select(AuditEvent.action))).scalars().all()
    assert kinds.count("sweep.created") == 1 and kinds.count("sweep.finished") == 1
    assert "sweep.create" in audited
    listed = await client.get("/api/v1/workflows/train/sweeps", headers=accounts["viewer"].headers)
    assert [s["id"] for s in listed.json()["items"]] == [done["id"]]


async def test_the_same_idempotency_key_gets_the_sweep_it_made(
    app: Any, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    await sweepable(client, ed, code="pass")
    once = {**ed.headers, "Idempotency-Key": "tune-1"}
    body = {"grid": {"depth": [3, 5]}}
    first = await client.post("/api/v1/workflows/train/sweeps", json=body, headers=once)
    again = await client.post("/api/v1/workflows/train/sweeps", json=body, headers=once)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    async with app.state.plait.db.read() as session:
        assert len((await session.execute(select(Run.id))).all()) == 2  # not four


async def test_at_most_max_parallel_runs_of_a_sweep_run_at_once(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    ed, inside, peaks = accounts["editor"], tmp_path / "inside", tmp_path / "peaks"
    inside.mkdir()
    peaks.mkdir()
    # Each run marks itself inside, writes how many it saw inside, stays a while, leaves.
    code = (
        "import os, time, plait\n"
        f"me = os.path.join({str(inside)!r}, str(plait.params()['n']))\n"
        "open(me, 'w').close()\n"
        f"peak = len(os.listdir({str(inside)!r}))\n"
        "time.sleep(0.6)\n"
        f"peak = max(peak, len(os.listdir({str(inside)!r})))\n"
        f"open(os.path.join({str(peaks)!r}, os.path.basename(me)), 'w').write(str(peak))\n"
        "os.remove(me)\n"
    )
    await sweepable(client, ed, code=code)
    made = await sweep(client, ed, grid={"n": [1, 2, 3, 4, 5, 6]}, max_parallel=2)
    assert made.status_code == 201, made.text
    done = await until_ended(client, ed, made.json()["id"])
    assert done["status"] == "succeeded"
    seen = [int(p.read_text()) for p in peaks.iterdir()]
    assert len(seen) == 6 and max(seen) <= 2, seen
    runs = [(await client.get(f"/api/v1/runs/{r['run_id']}", headers=ed.headers)).json()
            for r in done["rows"]]  # fmt: skip
    spans = [(r["started_at"], r["finished_at"]) for r in runs]
    for start, _ in spans:  # at each start, at most two runs had started and not finished
        assert sum(1 for s, f in spans if s <= start < f) <= 2, spans


async def test_a_seeded_random_search_draws_the_same_combinations_again(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    await sweepable(client, ed, code="pass")
    space = {"lr": {"log_uniform": [1e-4, 1e-1]}, "depth": {"choice": [3, 5, 7]},
             "dropout": {"uniform": [0, 0.5]}, "n": {"int": [1, 10]}}  # fmt: skip
    drawn = []
    for seed in (7, 7, 8):
        made = await sweep(client, ed, random={"n": 6, "seed": seed, "space": space},
                           max_parallel=4)  # fmt: skip
        assert made.status_code == 201, made.text
        assert made.json()["seed"] == seed and made.json()["kind"] == "random"
        drawn.append([r["swept"] for r in made.json()["rows"]])
    assert drawn[0] == drawn[1] and drawn[0] != drawn[2]
    for combo in drawn[0]:
        assert 1e-4 <= combo["lr"] <= 1e-1 and combo["depth"] in (3, 5, 7)
        assert 0 <= combo["dropout"] <= 0.5 and 1 <= combo["n"] <= 10
    unseeded = await sweep(client, ed, random={"n": 2, "space": space})
    assert isinstance(unseeded.json()["seed"], int)  # chosen, and kept to draw it again


async def test_more_than_1000_combinations_need_max_runs(
    app: Any, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    await sweepable(client, ed, code="pass")
    big = {"lr": [i / 1000 for i in range(40)], "depth": list(range(30))}
    refused = await sweep(client, ed, grid=big)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "1200 combinations" in detail and "max_runs" in detail
    assert refused.json()["errors"][0]["field"] == "grid"
    many = await sweep(client, ed, random={"n": 5000, "seed": 1, "space": {"n": {"int": [1, 9]}}})
    assert many.status_code == 422 and "5000 combinations" in many.json()["detail"]
    capped = await sweep(client, ed, grid=big, max_runs=3, max_parallel=3)
    assert capped.status_code == 201, capped.text
    assert capped.json()["total"] == 3 and capped.json()["max_runs"] == 3
    assert [r["swept"] for r in capped.json()["rows"]] == [
        {"lr": 0.0, "depth": 0}, {"lr": 0.0, "depth": 1}, {"lr": 0.0, "depth": 2}]  # fmt: skip
    async with app.state.plait.db.read() as session:
        assert len((await session.execute(select(Run.id))).all()) == 3


async def test_bad_values_are_refused_naming_the_field_and_no_run_is_made(
    app: Any, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    await sweepable(client, ed, code="pass")
    over = await sweep(client, ed, grid={"depth": [3], "lr": [0.1, 5]})
    assert over.status_code == 422, over.text
    error = over.json()["errors"][0]
    assert error["field"] == "grid.lr" and "combination 2" in error["message"]
    assert 'combination 2 {"depth": 3, "lr": 5}' in over.json()["detail"]
    wrong_type = await sweep(client, ed, grid={"depth": [3, "deep"]})
    assert wrong_type.json()["errors"][0]["field"] == "grid.depth"
    base = await sweep(client, ed, grid={"depth": [3]}, params={"lr": 7})
    assert base.json()["errors"][0]["field"] == "params.lr"
    unknown = await sweep(client, ed, grid={"depht": [3]})
    assert unknown.status_code == 422 and "did you mean 'depth'" in unknown.text
    bad_space = await sweep(client, ed, random={"n": 2, "space": {"lr": {"normal": [0, 1]}}})
    assert bad_space.json()["errors"][0]["field"] == "random.space.lr"
    backwards = await sweep(client, ed, random={"n": 2, "space": {"lr": {"uniform": [1, 0]}}})
    assert backwards.json()["errors"][0]["field"] == "random.space.lr.uniform"
    float_n = await sweep(client, ed, random={"n": 2, "space": {"n": {"uniform": [1, 3]}}})
    # Floats drawn for an integer param: named where the sweep gave it (not `random.n`).
    assert float_n.json()["errors"][0]["field"] == "random.space.n"
    wide = await sweep(client, ed, random={"n": 2, "space": {"lr": {"uniform": [-1e308, 1e308]}}})
    assert wide.json()["errors"][0]["field"] == "random.space.lr.uniform"
    not_json = await client.post("/api/v1/workflows/train/sweeps", headers=ed.headers,
                                 content='{"grid": {"lr": [NaN, Infinity]}}')  # fmt: skip
    assert not_json.status_code == 422, not_json.text
    neither = await sweep(client, ed, max_parallel=2)
    both = await sweep(client, ed, grid={"depth": [3]}, random={"n": 1, "space": {}})
    empty = await sweep(client, ed, grid={"depth": []})
    assert neither.status_code == both.status_code == empty.status_code == 422
    async with app.state.plait.db.read() as session:
        assert (await session.execute(select(Run.id))).all() == []
    missing = await sweep(client, ed, name="nope", grid={"depth": [3]})
    assert missing.status_code == 404


async def test_cancel_stops_its_running_and_queued_runs(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    ed, started = accounts["editor"], tmp_path / "started"
    code = f"import time\nopen({str(started)!r}, 'w').close()\ntime.sleep(60)"
    await sweepable(client, ed, code=code)
    made = (await sweep(client, ed, grid={"n": [1, 2, 3]}, max_parallel=1)).json()
    for _ in range(600):  # its first run's task has started (so cancel stops a running one)
        if started.exists():
            break
        await asyncio.sleep(0.05)
    assert started.exists()
    refused = await client.post(f"/api/v1/sweeps/{made['id']}/cancel",
                                headers=accounts["viewer"].headers)  # fmt: skip
    assert refused.status_code == 403
    cancel = await client.post(f"/api/v1/sweeps/{made['id']}/cancel", headers=ed.headers)
    assert cancel.status_code == 202, cancel.text
    done = await until_ended(client, ed, made["id"])
    assert done["status"] == "cancelled" and done["counts"]["cancelled"] == 3, done
    again = await client.post(f"/api/v1/sweeps/{made['id']}/cancel", headers=ed.headers)
    assert again.status_code == 409 and "nothing to cancel" in again.json()["detail"]


async def test_viewers_read_sweeps_and_cannot_launch_them(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed, viewer = accounts["editor"], accounts["viewer"]
    await sweepable(client, ed, code="pass")
    assert (await sweep(client, viewer, grid={"depth": [3]})).status_code == 403
    made = (await sweep(client, ed, grid={"depth": [3]})).json()
    seen = await client.get(f"/api/v1/sweeps/{made['id']}", headers=viewer.headers)
    assert seen.status_code == 200 and seen.json()["created_by"] == "ed"
    assert (await client.get("/api/v1/sweeps/999", headers=viewer.headers)).status_code == 404
    assert (await client.get(f"/api/v1/sweeps/{made['id']}")).status_code == 401


async def test_a_failed_run_retried_reopens_its_sweep_until_it_ends_again(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    ed, broken = accounts["editor"], tmp_path / "broken"
    broken.touch()
    code = (
        "import os, plait\n"
        f"if plait.params()['depth'] == 5 and os.path.exists({str(broken)!r}):\n"
        "    raise RuntimeError('depth 5 breaks')\n"
    )
    await sweepable(client, ed, code=code)
    made = (await sweep(client, ed, grid={"depth": [3, 5]}, max_parallel=2)).json()
    failed = await until_ended(client, ed, made["id"])
    assert failed["status"] == "failed" and failed["counts"]["failed"] == 1, failed
    broken.unlink()
    bad = next(r["run_id"] for r in failed["rows"] if r["status"] == "failed")
    retried = await client.post(f"/api/v1/runs/{bad}/retry", headers=ed.headers)
    assert retried.status_code < 300, retried.text
    done = await until_ended(client, ed, made["id"])
    assert done["status"] == "succeeded" and done["counts"]["succeeded"] == 2, done
    assert done["finished_at"] is not None
