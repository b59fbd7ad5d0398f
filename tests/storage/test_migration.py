"""0007_storage: artifact rows written with absolute host paths become store keys, so the
artifacts of runs from before the upgrade are still served."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from plait.api.app import create_app
from plait.db import migrate
from plait.db.models import Artifact
from plait.settings import Settings
from tests.conftest import make_user
from tests.storage.conftest import new_run


@pytest.fixture
async def quiet_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"scheduler": False}))
    async with app.router.lifespan_context(app):
        yield app


async def test_absolute_artifact_paths_become_keys(quiet_app: FastAPI) -> None:
    ctx = quiet_app.state.plait
    who = await make_user(quiet_app, "ed", "editor")
    run_id = await new_run(quiet_app, who)
    folder = ctx.settings.data_dir / "artifacts" / str(run_id) / "fit" / "1"
    folder.mkdir(parents=True)
    (folder / "model.txt").write_text("weights")
    paths = {
        "model.txt": str(folder / "model.txt"),  # as the local executor recorded it
        "elsewhere": "/tmp/elsewhere/model.txt",  # not in its attempt's folder: left alone
    }
    async with ctx.db.write() as session:
        for name, path in paths.items():
            session.add(Artifact(run_id=run_id, task_key="fit", attempt=1, name=name,
                                 path=path, size=7))  # fmt: skip
    await migrate.downgrade(ctx.db, "0006")
    await migrate.upgrade(ctx.db)

    async with ctx.db.read() as session:
        rows = (await session.execute(Artifact.__table__.select())).all()
    assert {row.name: row.path for row in rows} == {
        "model.txt": f"{run_id}/fit/1/model.txt",
        "elsewhere": "/tmp/elsewhere/model.txt",
    }
    transport = httpx.ASGITransport(app=quiet_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as client:
        by_name = {r.name: r.id for r in rows}
        url = f"/api/v1/runs/{run_id}/artifacts"
        got = await client.get(f"{url}/{by_name['model.txt']}", headers=who.headers)
        assert (got.status_code, got.content) == (200, b"weights")
        gone = await client.get(f"{url}/{by_name['elsewhere']}", headers=who.headers)
        assert gone.status_code == 404
