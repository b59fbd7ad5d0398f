"""bench/seed_runs.py at a tiny size: what it writes is what the API then serves, and the
ids of what people create afterwards continue after the seeded ones (sequences moved)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from plait.api.app import create_app
from plait.db.engine import Database
from plait.db.models import Event, LogChunk, Metric, Run, TaskAttempt, User, Workflow
from plait.settings import Settings

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
import seed_runs

RUNS = 500


async def _count(db: Database, model: type[object]) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_seed_fills_the_history_the_api_serves(settings: Settings) -> None:
    url = settings.resolved_database_url()
    await seed_runs.seed(url, RUNS, workflows=5, days=30)

    db = Database(url)
    try:
        assert await _count(db, Run) == RUNS
        assert await _count(db, TaskAttempt) == 3 * RUNS
        assert await _count(db, Workflow) == 5
        assert await _count(db, User) == 1 + seed_runs.USERS
        assert await _count(db, Metric) > 0
        assert await _count(db, LogChunk) > 0
        assert await _count(db, Event) > 0
        async with db.read() as session:
            oldest = await session.scalar(select(func.min(Run.created_at)))
            by_status = select(Run.status, func.count()).group_by(Run.status)
            statuses = {status: n for status, n in await session.execute(by_status)}
    finally:
        await db.dispose()
    assert oldest is not None
    assert datetime.now(UTC) - oldest > timedelta(days=29)  # spread over the whole window
    assert statuses["succeeded"] > statuses["failed"] > 0
    assert statuses.get("queued", 0) + statuses.get("running", 0) == seed_runs.ACTIVE

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as c:
            login = await c.post(
                "/api/v1/auth/login",
                json={"username": "user01", "password": seed_runs.SEED_PASSWORD},
            )
            assert login.status_code == 200, login.text
            c.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

            seen: list[int] = []
            cursor: str | None = None
            while True:
                params: dict[str, str | int] = {"limit": 200}
                if cursor:
                    params["cursor"] = cursor
                page = (await c.get("/api/v1/runs", params=params)).json()
                seen += [item["id"] for item in page["items"]]
                if not (cursor := page["next_cursor"]):
                    break
            assert sorted(seen, reverse=True) == seen == list(range(RUNS, 0, -1))

            detail = (await c.get(f"/api/v1/runs/{seen[-1]}")).json()
            assert [t["key"] for t in detail["tasks"]] == ["prepare", "train", "evaluate"]

            started = await c.post("/api/v1/workflows/train-model-001/runs", json={})
            assert started.status_code == 201, started.text
            assert started.json()["id"] == RUNS + 1
            attempt_ids = [a["id"] for t in started.json()["tasks"] for a in t["attempts"]]
            assert min(attempt_ids) > 3 * RUNS
