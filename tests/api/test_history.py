"""The history endpoints: the grid of runs x tasks and the final metrics of several runs.

The scheduler is off here: the tests write the history they read (attempts with their
statuses and times, metrics) straight into the tables, so every cell is known exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, update

from plait.api.app import create_app
from plait.db.engine import Database
from plait.db.models import Metric, Run, TaskAttempt
from plait.settings import Settings
from tests.conftest import Account, workflow_doc
from tests.support.workflows import create_workflow

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    quiet = create_app(settings.model_copy(update={"scheduler": False}))
    async with quiet.router.lifespan_context(quiet):
        yield quiet


def db(app: FastAPI) -> Database:
    database: Database = app.state.plait.db
    return database


async def start(client: httpx.AsyncClient, who: Account, ref: str = "train") -> int:
    response = await client.post(f"/api/v1/workflows/{ref}/runs", json={}, headers=who.headers)
    assert response.status_code == 201, response.text
    run_id: int = response.json()["id"]
    return run_id


async def settle(app: FastAPI, run_id: int, status: str, **tasks: list[str]) -> None:
    """Give the run `status` and each named task the attempts listed (statuses, in order),
    each attempt running 10 s; task attempt n starts at T0 + 10 s * n."""
    async with db(app).write() as session:
        end = T0 + timedelta(minutes=5)
        values = {"status": status, "started_at": T0, "finished_at": end}
        await session.execute(update(Run).where(Run.id == run_id).values(**values))
        for key, statuses in tasks.items():
            for number, attempt_status in enumerate(statuses, start=1):
                began = T0 + timedelta(seconds=10 * number)
                times = {"status": attempt_status, "started_at": began,
                         "finished_at": began + timedelta(seconds=10)}  # fmt: skip
                if number == 1:
                    await session.execute(
                        update(TaskAttempt)
                        .where(TaskAttempt.run_id == run_id, TaskAttempt.task_key == key)
                        .values(**times)
                    )
                else:
                    session.add(TaskAttempt(run_id=run_id, task_key=key, attempt=number,
                                            outputs={}, **times))  # fmt: skip


async def get_grid(client: httpx.AsyncClient, who: Account, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/api/v1/workflows/train/grid{query}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_grid_shows_the_newest_runs_oldest_first_with_a_cell_per_task(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor, viewer = accounts["editor"], accounts["viewer"]
    await create_workflow(client, editor)  # tasks load -> fit
    first, second, third = [await start(client, editor) for _ in range(3)]
    await settle(app, first, "succeeded", load=["succeeded"], fit=["succeeded"])
    await settle(app, second, "failed", load=["failed", "succeeded"], fit=["failed"])

    grid = await get_grid(client, viewer)
    assert grid["tasks"] == ["load", "fit"]
    assert [r["id"] for r in grid["runs"]] == [first, second, third]
    done, retried, waiting = grid["runs"]
    assert done["status"] == "succeeded" and done["duration"] == 300
    assert done["cells"]["fit"] == {"status": "succeeded", "attempts": 1, "duration": 10}
    assert retried["cells"]["load"] == {"status": "succeeded", "attempts": 2, "duration": 10}
    assert retried["cells"]["fit"]["status"] == "failed"
    assert waiting["status"] == "queued" and waiting["duration"] is None
    assert waiting["cells"]["load"] == {"status": "pending", "attempts": 1, "duration": None}
    assert waiting["trigger"] == "manual" and waiting["scheduled_for"] is None

    newest = await get_grid(client, viewer, "?limit=2")
    assert [r["id"] for r in newest["runs"]] == [second, third]


async def test_the_grid_rows_are_the_current_tasks(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    await create_workflow(client, editor)
    old = await start(client, editor)
    tasks = [
        {"key": "fit", "kind": "shell", "command": "true"},
        {"key": "score", "kind": "shell", "command": "true", "depends_on": ["fit"]},
    ]
    changed = await client.put("/api/v1/workflows/train", json=workflow_doc(tasks=tasks),
                               headers=editor.headers)  # fmt: skip
    assert changed.status_code == 200, changed.text
    new = await start(client, editor)

    grid = await get_grid(client, editor)
    assert grid["tasks"] == ["fit", "score"]
    cells = {r["id"]: r["cells"] for r in grid["runs"]}
    assert set(cells[old]) == {"fit"}  # the old run had no score, and load is gone
    assert set(cells[new]) == {"fit", "score"}


async def test_the_grid_of_a_workflow_without_runs_and_bad_requests(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    viewer = accounts["viewer"]
    await create_workflow(client, accounts["editor"])
    assert await get_grid(client, viewer) == {"tasks": ["load", "fit"], "runs": []}
    for limit in ("0", "101", "ten"):
        response = await client.get(f"/api/v1/workflows/train/grid?limit={limit}",
                                    headers=viewer.headers)  # fmt: skip
        assert response.status_code == 422, response.text
    missing = await client.get("/api/v1/workflows/nope/grid", headers=viewer.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


@contextmanager
def history_queries(app: FastAPI) -> Iterator[list[str]]:
    """The statements that read runs or attempts while the block runs."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "task_attempts" in statement or "FROM runs" in statement:
            seen.append(statement)

    engine = db(app).reader.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_the_grid_costs_the_same_queries_for_2_runs_or_12(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    await create_workflow(client, editor)
    for _ in range(2):
        await start(client, editor)
    with history_queries(app) as few:
        assert len((await get_grid(client, editor))["runs"]) == 2
    for _ in range(10):
        await start(client, editor)
    with history_queries(app) as many:
        assert len((await get_grid(client, editor))["runs"]) == 12
    assert len(few) == len(many) == 2, many


async def log_metrics(app: FastAPI, run_id: int, *points: tuple[str, float, int | None]) -> None:
    async with db(app).write() as session:
        session.add_all(Metric(run_id=run_id, task_key="fit", attempt=1, key=key, value=value,
                               step=step) for key, value, step in points)  # fmt: skip


async def test_final_metrics_are_the_last_value_of_each_key(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor, viewer = accounts["editor"], accounts["viewer"]
    await create_workflow(client, editor)
    one, two, silent = [await start(client, editor) for _ in range(3)]
    await log_metrics(app, one, ("loss", 0.9, 0), ("loss", 0.5, 1), ("loss", 0.2, 2),
                      ("accuracy", 0.75, None))  # fmt: skip
    await log_metrics(app, two, ("loss", 0.4, 0), ("f1", 0.6, None), ("f1", 0.65, None))

    response = await client.get(
        f"/api/v1/runs/final-metrics?ids={one},{two},{silent},999999", headers=viewer.headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"runs": {
        str(one): {"loss": 0.2, "accuracy": 0.75},
        str(two): {"loss": 0.4, "f1": 0.65},
        str(silent): {},  # 999999 names no run: left out
    }}  # fmt: skip


async def test_final_metrics_refuses_bad_or_too_many_ids(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    h = accounts["viewer"].headers
    too_many = ",".join(str(i) for i in range(1, 102))
    bad = {"ids=1,x": "separated by commas", "ids=": "separated by commas",
           "ids=1,-2": "separated by commas", f"ids={too_many}": "101 were"}  # fmt: skip
    for query, says in bad.items():
        response = await client.get(f"/api/v1/runs/final-metrics?{query}", headers=h)
        assert response.status_code == 422, (query, response.text)
        problem = response.json()
        assert problem["errors"][0]["field"] == "query.ids"
        assert says in problem["errors"][0]["message"], (query, problem)
    missing = await client.get("/api/v1/runs/final-metrics", headers=h)
    assert missing.status_code == 422
    at_most = ",".join(str(i) for i in range(1, 101))
    assert (await client.get(f"/api/v1/runs/final-metrics?ids={at_most}", headers=h)).json() == {
        "runs": {}
    }


async def test_fire_times_say_what_a_backfill_would_make(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor, viewer = accounts["editor"], accounts["viewer"]
    await create_workflow(client, editor, schedule="0 2 * * *", timezone="Europe/Paris")

    async def preview(start: str, end: str) -> httpx.Response:
        return await client.get(f"/api/v1/workflows/train/fire-times?start={start}&end={end}",
                                headers=viewer.headers)  # fmt: skip

    winter = await preview("2026-02-01", "2026-02-03")  # dates in Paris; the end day included
    assert winter.status_code == 200, winter.text
    expected = {"count": 3, "existing": 0, "first": "2026-02-01T01:00:00Z",
                "last": "2026-02-03T01:00:00Z", "timezone": "Europe/Paris"}  # fmt: skip
    assert winter.json() == expected
    made = await client.post("/api/v1/workflows/train/backfills", headers=editor.headers,
                             json={"start": "2026-02-02", "end": "2026-02-02"})  # fmt: skip
    assert made.status_code == 201, made.text
    again = (await preview("2026-02-01", "2026-02-03")).json()
    assert (again["count"], again["existing"]) == (3, 1)  # a backfill would make 2
    summer = (await preview("2026-07-01", "2026-07-01")).json()
    assert summer["first"] == "2026-07-01T00:00:00Z"  # 02:00 in Paris is 00:00 UTC in summer
    assert (await preview("2026-02-01T03:00", "2026-02-01T23:00")).json()["count"] == 0


async def test_fire_times_refuse_what_a_backfill_refuses(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    h = accounts["viewer"].headers
    await create_workflow(client, accounts["editor"], name="manual")
    await create_workflow(client, accounts["editor"], name="busy", schedule="* * * * *")
    cases = {
        "manual?start=2026-02-01&end=2026-02-02": "no recurring schedule",
        "busy?start=2026-02-02&end=2026-02-01": "before start",
        "busy?start=2026-02-01&end=2026-02-03": "holds 4320 fire times",
        "busy?start=yesterday1&end=2026-02-01": "is not a date",
    }
    for query, says in cases.items():
        ref, _, dates = query.partition("?")
        response = await client.get(f"/api/v1/workflows/{ref}/fire-times?{dates}", headers=h)
        assert response.status_code == 422, (query, response.text)
        assert says in response.text, (query, response.text)


async def test_the_grid_shows_a_backfill_s_runs_by_fire_time(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    await create_workflow(client, editor, schedule="0 6 * * *")
    made = await client.post("/api/v1/workflows/train/backfills", headers=editor.headers,
                             json={"start": "2026-01-05", "end": "2026-01-06"})  # fmt: skip
    assert made.status_code == 201, made.text
    columns = (await get_grid(client, editor))["runs"]
    assert [(r["trigger"], r["scheduled_for"]) for r in columns] == [
        ("backfill", "2026-01-05T06:00:00Z"), ("backfill", "2026-01-06T06:00:00Z")]  # fmt: skip
    assert all(r["cells"]["load"]["status"] == "pending" for r in columns)
