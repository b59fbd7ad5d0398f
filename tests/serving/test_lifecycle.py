"""What happens to a deployment over time: a version swapped in under load with no failed
request, a version that will not load (the old one keeps serving), a stage followed, a
serving process that dies (503 for what it held, then restarted), and deletion."""

from __future__ import annotations

import asyncio
import pickle
import re
from typing import Any

import httpx
import pandas as pd  # type: ignore[import-untyped]
from fastapi import FastAPI
from sqlalchemy import select, update

from plait.db.models import ModelVersion
from plait.events import outbox
from tests.conftest import Account
from tests.serving.conftest import deploy, predict, wait_for
from tests.support.serving import add_version, model_bytes, rows, signature, train


class Crafted:
    """A pickle whose loading evaluates `source`: what a task's author can ship as a model."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __reduce__(self) -> tuple[Any, ...]:
        return (eval, (self.source,))


def crafted(source: str) -> bytes:
    return pickle.dumps(Crafted(source))


async def test_a_swap_under_concurrent_requests_fails_none(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    first, second = train(), train(target_shift=10)
    await add_version(app, first)
    await add_version(app, second)
    await deploy(client, accounts["editor"], version=1)
    await wait_for(client, accounts["viewer"], "iris-api", "serving")
    sent = rows(20, start=60)
    seen: list[tuple[int, int]] = []
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            response = await predict(client, accounts["viewer"], "iris-api", sent)
            seen.append((response.status_code, response.json().get("version", 0)))

    clients = [asyncio.create_task(loop()) for _ in range(8)]
    await asyncio.sleep(0.3)
    patched = await client.patch(
        "/api/v1/deployments/iris-api", json={"version": 2}, headers=accounts["editor"].headers
    )
    assert patched.status_code == 200, patched.text
    await wait_for(client, accounts["viewer"], "iris-api", "serving", version=2)
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*clients)
    assert {code for code, _ in seen} == {200}, [s for s in seen if s[0] != 200][:5]
    versions = [v for _, v in seen]
    assert versions[0] == 1 and versions[-1] == 2 and len(seen) > 16
    after = (await predict(client, accounts["viewer"], "iris-api", sent)).json()
    assert after["version"] == 2
    assert after["predictions"] == second.predict(pd.DataFrame(sent)).tolist()


async def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    model = train()
    await add_version(app, model)
    await add_version(app, model_bytes(train(), "sklearn")[:300])  # a corrupt joblib
    await deploy(client, accounts["editor"], version=1)
    await wait_for(client, accounts["viewer"], "iris-api", "serving")
    await client.patch(
        "/api/v1/deployments/iris-api", json={"version": 2}, headers=accounts["editor"].headers
    )
    shown = await wait_for(client, accounts["viewer"], "iris-api", "failed")
    # The loader's own last line (whatever joblib says of a cut file), no traceback.
    assert re.fullmatch(r"[A-Za-z.]*(Error|Exception): [^\n]+", shown["error"]), shown["error"]
    assert str(app.state.plait.settings.data_dir) not in shown["error"]
    assert shown["serving_version"] == 1 and shown["version"] == 2
    response = await predict(client, accounts["viewer"], "iris-api", rows(5))
    assert response.status_code == 200 and response.json()["version"] == 1
    assert response.json()["predictions"] == model.predict(pd.DataFrame(rows(5))).tolist()
    # Back to the good version: serving again, no error.
    await client.patch(
        "/api/v1/deployments/iris-api", json={"version": 1}, headers=accounts["editor"].headers
    )
    shown = await wait_for(client, accounts["viewer"], "iris-api", "serving")
    assert shown["error"] is None


async def test_a_deployment_following_a_stage_moves_to_the_promoted_version(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await add_version(app, train(), stage="production")
    second = train(target_shift=10)
    await add_version(app, second)
    await deploy(client, accounts["editor"], stage="production")
    shown = await wait_for(client, accounts["viewer"], "iris-api", "serving", version=1)
    assert shown["stage"] == "production" and shown["version"] is None
    # What the registry's set_stage writes when version 2 is promoted (it is not on this
    # branch): the stage columns and the events, in one transaction.
    async with app.state.plait.db.write() as session:
        ids = dict((await session.execute(select(ModelVersion.version, ModelVersion.id))).all())
        await session.execute(
            update(ModelVersion).where(ModelVersion.id == ids[1]).values(stage="archived")
        )
        await session.execute(
            update(ModelVersion).where(ModelVersion.id == ids[2]).values(stage="production")
        )
        outbox.record(
            session,
            "model.stage_changed",
            model="iris",
            version=1,
            stage="archived",
            from_stage="production",
        )
        outbox.record(
            session,
            "model.stage_changed",
            model="iris",
            version=2,
            stage="production",
            from_stage="none",
        )
    await wait_for(client, accounts["viewer"], "iris-api", "serving", version=2)
    response = (await predict(client, accounts["viewer"], "iris-api", rows(3, start=100))).json()
    assert response["version"] == 2
    assert response["predictions"] == second.predict(pd.DataFrame(rows(3, start=100))).tolist()


# Crashes its process a second after it is given a row whose sepal_length is -1 (what a
# segfault in a native library looks like from outside); otherwise predicts 0.
CRASHER = (
    "type('Crasher', (), {'predict': lambda self, x: (__import__('time').sleep(1), "
    "__import__('os')._exit(3)) if float(x[0][0]) == -1 else [0] * len(x)})()"
)


async def test_a_serving_process_that_dies_answers_503_then_comes_back(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await add_version(app, crafted(CRASHER), flavor="pickle")
    await deploy(client, accounts["editor"], version=1)
    await wait_for(client, accounts["viewer"], "iris-api", "serving")
    crash = {**rows(1)[0], "sepal_length": -1}
    viewer = accounts["viewer"]
    crashing = asyncio.create_task(predict(client, viewer, "iris-api", [crash]))
    await asyncio.sleep(0.3)
    # In flight behind it on the same process: they must not hang, nor be lost silently.
    behind = [asyncio.create_task(predict(client, viewer, "iris-api", rows(2))) for _ in range(3)]
    answers = await asyncio.wait_for(asyncio.gather(crashing, *behind), timeout=10)
    for response in answers:
        assert response.status_code == 503, response.text
        assert "its serving process stopped (exit code 3" in response.json()["detail"]
    shown = (await client.get("/api/v1/deployments/iris-api", headers=viewer.headers)).json()
    assert shown["status"] in ("loading", "serving")
    await wait_for(client, viewer, "iris-api", "serving")
    again = await predict(client, viewer, "iris-api", rows(2))
    assert again.status_code == 200 and again.json()["predictions"] == [0, 0]
    traffic = (await client.get("/api/v1/deployments/iris-api", headers=viewer.headers)).json()
    assert traffic["traffic"]["errors"] == 4


async def test_a_deleted_deployment_stops_serving(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await add_version(app, train())
    await deploy(client, accounts["editor"], version=1)
    await wait_for(client, accounts["viewer"], "iris-api", "serving")
    pid = app.state.services.supervisor.slot("iris-api").process.pid
    gone = await client.delete("/api/v1/deployments/iris-api", headers=accounts["editor"].headers)
    assert gone.status_code == 204
    assert (await predict(client, accounts["viewer"], "iris-api", rows(1))).status_code == 404
    for _ in range(100):
        try:
            import os

            os.kill(pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the serving process still runs")
    listed = (await client.get("/api/v1/deployments", headers=accounts["viewer"].headers)).json()
    assert listed == []


async def test_the_list_shows_each_deployment_with_its_status(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await add_version(app, train(), sig=signature())
    await deploy(client, accounts["editor"], "a-fixed", version=1)
    await deploy(client, accounts["editor"], "b-staged", stage="staging")
    await wait_for(client, accounts["viewer"], "a-fixed", "serving")
    listed = (await client.get("/api/v1/deployments", headers=accounts["viewer"].headers)).json()
    assert [(d["name"], d["status"], d["version"], d["stage"]) for d in listed] == [
        ("a-fixed", "serving", 1, None),
        ("b-staged", "pending", None, "staging"),
    ]
