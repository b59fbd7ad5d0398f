"""GET /api/v1/runs/compare over runs written straight into the tables (the scheduler is
off): a long series downsampled, the number of queries, runs of different workflows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, insert

from plait.api.app import create_app
from plait.db.engine import Database
from plait.db.models import Metric, Run, TaskAttempt
from plait.settings import Settings
from tests.conftest import Account
from tests.support.workflows import create_workflow

Accounts = dict[str, Account]


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    quiet = create_app(settings.model_copy(update={"scheduler": False}))
    async with quiet.router.lifespan_context(quiet):
        yield quiet


async def compare(client: httpx.AsyncClient, who: Account, *run_ids: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/compare?ids={','.join(map(str, run_ids))}",
                                headers=who.headers)  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_name(rows: list[dict[str, Any]], field: str) -> dict[Any, dict[str, Any]]:
    return {row[field]: row for row in rows}


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def db(app: FastAPI) -> Database:
    database: Database = app.state.plait.db
    return database


async def finished_run(app: FastAPI, workflow_id: int, params: dict[str, Any]) -> int:
    """A run as one that ended leaves it (written straight in, so no task runs)."""
    async with db(app).write() as session:
        run = Run(workflow_id=workflow_id, workflow_version=1, params=params, status="succeeded",
                  trigger="api", started_at=T0, finished_at=T0 + timedelta(minutes=1))  # fmt: skip
        session.add(run)
        await session.flush()
        session.add(TaskAttempt(run_id=run.id, task_key="fit", attempt=1, status="succeeded",
                                outputs={"n": len(params)}, started_at=T0,
                                finished_at=T0 + timedelta(seconds=30)))  # fmt: skip
        return run.id


async def log(app: FastAPI, run_id: int, key: str, values: list[float]) -> None:
    rows = [{"run_id": run_id, "task_key": "fit", "attempt": 1, "key": key, "value": value,
             "step": step, "created_at": T0 + timedelta(milliseconds=step)}
            for step, value in enumerate(values)]  # fmt: skip
    async with db(app).write() as session:
        await session.execute(insert(Metric), rows)


async def workflow_id(client: httpx.AsyncClient, who: Account, name: str = "train") -> int:
    found: int = (await create_workflow(client, who, name=name))["id"]
    return found


async def test_a_long_series_comes_downsampled_keeping_its_shape(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    wf = await workflow_id(client, editor)
    big, small = await finished_run(app, wf, {"lr": 0.1}), await finished_run(app, wf, {"lr": 0.2})
    n = 20_000
    values = [float(i % 100) for i in range(n)]  # a saw tooth, 0 to 99
    values[7_777], values[12_345] = -50.0, 500.0  # one dip and one spike, mid-stretch
    await log(app, big, "loss", values)
    await log(app, small, "loss", [3.0, 2.0, 1.0])

    body = await compare(client, accounts["viewer"], big, small)
    long, short = body["metrics"][0]["runs"][str(big)], body["metrics"][0]["runs"][str(small)]
    assert (long["count"], long["min"], long["max"], long["last"]) == (n, -50, 500, values[-1])
    series = long["series"]
    assert long["downsampled"] is True and len(series) <= 500
    xs = [x for x, _, _ in series]
    assert xs == sorted(set(xs))  # in order, each point once
    assert series[0][:2] == [0, values[0]] and series[-1][:2] == [n - 1, values[-1]]
    assert [7_777, -50] in [p[:2] for p in series] and [12_345, 500] in [p[:2] for p in series]
    assert all(values[x] == value for x, value, _ in series)  # real points, not averages
    # The saw's teeth stay: every stretch of 160 points keeps a 0 and a 99.
    assert {value for _, value, _ in series} >= {0.0, 99.0}
    assert [v for _, v, _ in short["series"]] == [3.0, 2.0, 1.0] and not short["downsampled"]


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if any(table in statement for table in ("metrics", "task_attempts", "FROM runs")):
            seen.append(statement)

    engine = db(app).reader.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_ten_runs_cost_the_same_queries_as_two(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    viewer = accounts["viewer"]
    wf = await workflow_id(client, accounts["editor"])
    made = [await finished_run(app, wf, {"lr": i / 10}) for i in range(10)]
    for run_id in made:
        for key in ("loss", "accuracy", "f1"):
            await log(app, run_id, key, [1.0, 0.5])
    with statements(app) as two:
        await compare(client, viewer, *made[:2])
    with statements(app) as ten:
        body = await compare(client, viewer, *made)
    assert len(ten) == len(two), ten
    assert len(body["runs"]) == 10 and len(body["metrics"]) == 3
    assert by_name(body["params"], "name")["lr"]["differs"] is True


async def test_runs_of_different_workflows_and_without_metrics(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    wf = await workflow_id(client, editor)
    other = await workflow_id(client, editor, "other")
    one = await finished_run(app, wf, {"lr": 0.1, "epochs": 5})
    two = await finished_run(app, other, {"lr": 0.1})
    body = await compare(client, accounts["viewer"], one, two)
    assert [r["workflow"] for r in body["runs"]] == ["train", "other"]
    params = by_name(body["params"], "name")
    assert params["lr"]["differs"] is False
    assert params["epochs"] == {"name": "epochs", "values": {str(one): 5}, "differs": True}
    assert body["metrics"] == []
    assert by_name(body["outputs"], "key")["n"]["values"] == {str(one): 2, str(two): 1}
