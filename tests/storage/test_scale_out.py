"""Two servers on one database: the first runs a task (logs to the database, artifacts to
S3 on a real S3-speaking server); the second, with a data directory of its own and no
scheduler, serves that run's log, live and after, and its artifacts. No log text ever rides
the event outbox."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from plait.api.app import create_app
from plait.db.models import Event
from plait.settings import Settings
from tests.conftest import Account, make_user
from tests.orchestration.test_engine import FINISHED, start, wait
from tests.storage.conftest import s3_client, s3_settings

TASK = """
import pathlib, time, plait
for i in range(4):
    print(f"line {i}", flush=True)
    time.sleep(1.0)  # slow enough that even a loaded machine sends several batches
pathlib.Path("model.txt").write_text("weights")
plait.log_artifact("model.txt")
folder = pathlib.Path("model")
(folder / "sub").mkdir(parents=True)
(folder / "sub" / "config.json").write_text('{"layers": 3}')
(folder / "weights.bin").write_bytes(bytes(range(256)) * 64)
plait.log_artifact(folder)
"""
LINES = "".join(f"line {i}\n" for i in range(4))


@pytest.fixture
def first_settings(settings: Settings, s3_endpoint: str, bucket: str) -> Settings:
    return s3_settings(settings, s3_endpoint, bucket, log_store="database")


@pytest.fixture
def second_settings(first_settings: Settings, tmp_path: Path) -> Settings:
    return first_settings.model_copy(
        update={"data_dir": tmp_path / "other-data", "scheduler": False, "notify_worker": False}
    )


async def _serving(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as c:
            yield app, c


@pytest.fixture
async def first(first_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async for served in _serving(first_settings):
        yield served


@pytest.fixture
async def second(second_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async for served in _serving(second_settings):
        yield served


async def _sse(client: httpx.AsyncClient, url: str, who: Account) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    async with client.stream("GET", url, headers=who.headers) as response:
        assert response.status_code == 200
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


async def test_a_second_server_serves_the_log_and_artifacts_of_a_run_the_first_ran(
    first: tuple[FastAPI, httpx.AsyncClient],
    second: tuple[FastAPI, httpx.AsyncClient],
    s3_endpoint: str,
    bucket: str,
) -> None:
    app, client = first
    _, other = second
    who = await make_user(app, "ed", "editor")
    run = await start(client, who, [{"key": "train", "kind": "python", "code": TASK}])
    await wait(client, who, run["id"], until=("running", *FINISHED))
    base = f"/api/v1/runs/{run['id']}"

    # Followed live on the server that does not run it: read from the database store.
    streamed = await _sse(other, f"{base}/tasks/train/logs/stream", who)
    assert "".join(d["text"] for kind, d in streamed if kind == "log") == LINES
    assert sum(kind == "log" for kind, _ in streamed) >= 2  # as the task printed
    assert streamed[-1] == ("end", {"status": "succeeded", "offset": len(LINES)})
    done = await wait(client, who, run["id"])
    assert done["status"] == "succeeded", done

    log = (await other.get(f"{base}/tasks/train/logs", headers=who.headers)).json()
    assert (log["content"], log["complete"]) == (LINES, True)

    listed = (await other.get(f"{base}/artifacts", headers=who.headers)).json()
    by_name = {a["name"]: a for a in listed}
    for server in (client, other):
        file = await server.get(
            f"{base}/artifacts/{by_name['model.txt']['id']}", headers=who.headers
        )
        assert (file.status_code, file.content) == (200, b"weights")
        folder = await server.get(f"{base}/artifacts/{by_name['model']['id']}", headers=who.headers)
        assert folder.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(folder.content))
        assert {n: archive.read(n) for n in archive.namelist()} == {
            "sub/config.json": b'{"layers": 3}',
            "weights.bin": bytes(range(256)) * 64,
        }

    stored = s3_client(s3_endpoint).get_object(
        Bucket=bucket, Key=f"plait/{run['id']}/train/1/model.txt"
    )
    assert stored["Body"].read() == b"weights"

    async with app.state.plait.db.read() as session:
        events = (await session.execute(select(Event).where(Event.type == "log"))).scalars()
        logged = [e.data for e in events]
    assert logged and all("text" not in data for data in logged)
    assert logged[-1]["size"] == len(LINES)


async def test_an_artifact_gone_from_the_store_is_a_404_problem(
    first: tuple[FastAPI, httpx.AsyncClient], s3_endpoint: str, bucket: str
) -> None:
    app, client = first
    who = await make_user(app, "ed", "editor")
    code = (
        "import pathlib, plait\npathlib.Path('a.txt').write_text('a')\nplait.log_artifact('a.txt')"
    )
    run = await start(client, who, [{"key": "t", "kind": "python", "code": code}])
    assert (await wait(client, who, run["id"]))["status"] == "succeeded"
    s3_client(s3_endpoint).delete_object(Bucket=bucket, Key=f"plait/{run['id']}/t/1/a.txt")
    (artifact,) = (
        await client.get(f"/api/v1/runs/{run['id']}/artifacts", headers=who.headers)
    ).json()
    got = await client.get(
        f"/api/v1/runs/{run['id']}/artifacts/{artifact['id']}", headers=who.headers
    )
    assert got.status_code == 404
    assert got.headers["content-type"] == "application/problem+json"


async def test_deleting_the_workflow_empties_its_runs_in_the_bucket(
    first: tuple[FastAPI, httpx.AsyncClient], s3_endpoint: str, bucket: str
) -> None:
    app, client = first
    who = await make_user(app, "ed", "editor")
    code = (
        "import pathlib, plait\npathlib.Path('a.txt').write_text('a')\nplait.log_artifact('a.txt')"
    )
    run = await start(client, who, [{"key": "t", "kind": "python", "code": code}], name="gone")
    assert (await wait(client, who, run["id"]))["status"] == "succeeded"
    s3 = s3_client(s3_endpoint)
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"plait/{run['id']}/")["KeyCount"] == 1
    deleted = await client.delete("/api/v1/workflows/gone", headers=who.headers)
    assert deleted.status_code == 204, deleted.text
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"plait/{run['id']}/")["KeyCount"] == 0
