"""GET /workflows/{ref}/stats and GET /stats over HTTP: the window is counted back from the
real now, the figures are those of runs written just before, bad windows are 422 and an
unknown workflow 404. (The figures themselves: tests/orchestration/test_stats.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plait.api import stats as stats_api
from plait.api.app import create_app
from plait.db.engine import Database
from plait.db.models import Run, TaskAttempt
from plait.orchestration import stats as stats_module
from plait.settings import Settings
from tests.conftest import Account
from tests.support.workflows import create_workflow


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    quiet = create_app(settings.model_copy(update={"scheduler": False}))
    async with quiet.router.lifespan_context(quiet):
        yield quiet


async def add_run(
    app: FastAPI, workflow_id: int, created: datetime, status: str, seconds: float,
    error: str | None = None,
) -> int:  # fmt: skip
    db: Database = app.state.plait.db
    async with db.write() as session:
        run = Run(workflow_id=workflow_id, workflow_version=1, params={}, status=status,
                  trigger="api", created_at=created, started_at=created,
                  finished_at=created + timedelta(seconds=seconds))  # fmt: skip
        session.add(run)
        await session.flush()
        session.add(TaskAttempt(run_id=run.id, task_key="fit", attempt=1, status=status,
                                outputs={}, error=error, started_at=created,
                                finished_at=created + timedelta(seconds=seconds)))  # fmt: skip
        return run.id


async def get(client: httpx.AsyncClient, path: str, who: Account) -> dict[str, Any]:
    response = await client.get(path, headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_stats_of_a_workflow_and_of_the_instance(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    wf = await create_workflow(client, accounts["editor"])
    now = datetime.now(UTC)
    await add_run(app, wf["id"], now - timedelta(days=3), "succeeded", 4)
    failed = await add_run(app, wf["id"], now - timedelta(days=2), "failed", 8, "OSError: disk")
    await add_run(app, wf["id"], now - timedelta(days=40), "failed", 100, "Old")  # outside 30
    viewer = accounts["viewer"]

    body = await get(client, "/api/v1/workflows/train/stats?days=30", viewer)
    assert body["days"] == 30 and len(body["per_day"]) == 30
    assert body["runs"]["total"] == 2 and body["runs"]["success_rate"] == 0.5
    assert body["runs"]["duration"] == {"p50": 6.0, "p95": 7.8}  # 4 and 8
    assert body["failures"] == [{"error": "OSError: disk", "count": 1, "latest_run_id": failed}]
    day = (now - timedelta(days=2)).date().isoformat()
    assert [d["by_status"]["failed"] for d in body["per_day"] if d["date"] == day] == [1]
    by_id = await get(client, f"/api/v1/workflows/{wf['id']}/stats", viewer)  # 30 days unless told
    assert by_id | {"until": None} == body | {"until": None}

    # 90 days reach the old failure too.
    longer = await get(client, "/api/v1/workflows/train/stats?days=90", viewer)
    assert longer["runs"]["total"] == 3 and longer["failures"][0]["count"] == 1
    assert {f["error"] for f in longer["failures"]} == {"OSError: disk", "Old"}

    whole = await get(client, "/api/v1/stats?days=7", viewer)
    assert whole["runs"]["by_status"]["failed"] == 1
    assert whole["failing_workflows"] == [
        {"workflow_id": wf["id"], "name": "train", "failed": 1, "runs": 2, "success_rate": 0.5}
    ]


async def test_bad_windows_are_422_an_unknown_workflow_404_and_strangers_get_401(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await create_workflow(client, accounts["editor"])
    viewer = accounts["viewer"].headers
    for days in ("0", "400", "-1", "x"):
        for path in ("/api/v1/workflows/train/stats", "/api/v1/stats"):
            response = await client.get(f"{path}?days={days}", headers=viewer)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert "days" in response.text
    response = await client.get("/api/v1/workflows/nope/stats", headers=viewer)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/stats")).status_code == 401


async def test_the_instance_figures_are_computed_once_per_window_for_every_caller(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    wf = await create_workflow(client, accounts["editor"])
    now = datetime.now(UTC)
    await add_run(app, wf["id"], now - timedelta(hours=1), "succeeded", 4)
    calls = 0
    compute = stats_module.instance_stats

    async def counted(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return await compute(*args)

    monkeypatch.setattr(stats_module, "instance_stats", counted)
    viewer = accounts["viewer"]
    answers = await asyncio.gather(*(get(client, "/api/v1/stats?days=7", viewer) for _ in range(8)))
    assert calls == 1 and all(a == answers[0] for a in answers)
    assert answers[0]["runs"]["total"] == 1

    # Within the 30 seconds a new run is not counted yet; `until` says when it was computed.
    await add_run(app, wf["id"], now - timedelta(minutes=1), "failed", 2)
    assert await get(client, "/api/v1/stats?days=7", viewer) == answers[0]
    # Another window is its own computation; after the 30 seconds the new run counts.
    assert (await get(client, "/api/v1/stats?days=8", viewer))["runs"]["total"] == 2
    monkeypatch.setattr(stats_api, "INSTANCE_TTL_SECONDS", 0.0)
    fresh = await get(client, "/api/v1/stats?days=7", viewer)
    assert fresh["runs"]["total"] == 2 and fresh["until"] > answers[0]["until"]
    assert calls == 3
