"""The export's limits: the tolerance it checks the ONNX model against, and the time a
conversion may take."""

from __future__ import annotations

import pickle
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plait.settings import Settings
from tests.conftest import Account
from tests.support.model_versions import classifier, log_model_version


@pytest.fixture
def limits() -> dict[str, float]:
    return {"export_tolerance": 0.0}


@pytest.fixture
def settings(settings: Settings, limits: dict[str, float]) -> Settings:
    return settings.model_copy(update=limits)


class Sleeper:
    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, ("import time\ntime.sleep(60)",))


async def test_an_export_beyond_the_tolerance_is_kept_and_marked(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], workflow: str
) -> None:
    ctx = app.state.plait
    number = await log_model_version(ctx.db, ctx.artifacts, workflow, "iris", obj=classifier())
    path = f"/api/v1/models/iris/versions/{number}"
    response = await client.post(f"{path}/export", json={}, headers=accounts["editor"].headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["max_abs_diff"] > 0  # float32 probabilities are never exactly float64 ones
    assert body["within_tolerance"] is False
    assert "more than the tolerance 0.0" in body["message"]
    listed = (await client.get(f"{path}/exports", headers=accounts["viewer"].headers)).json()
    assert listed[0]["within_tolerance"] is False and listed[0]["meta"]["tolerance"] == 0.0


@pytest.mark.parametrize("limits", [{"export_timeout": 3.0}])
async def test_a_conversion_that_takes_too_long_is_stopped(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], workflow: str
) -> None:
    ctx = app.state.plait
    number = await log_model_version(ctx.db, ctx.artifacts, workflow, "slow", flavor="pickle",
                                     raw=pickle.dumps(Sleeper()))  # fmt: skip
    started = time.monotonic()
    response = await client.post(f"/api/v1/models/slow/versions/{number}/export", json={},
                                 headers=accounts["editor"].headers)  # fmt: skip
    assert time.monotonic() - started < 15
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the conversion did not finish within 3 s (PLAIT_EXPORT_TIMEOUT)"
    )
    leftovers = list((ctx.settings.data_dir / "cache" / "exports").iterdir())
    assert leftovers == []
