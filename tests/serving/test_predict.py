"""Deployments that serve: a native (joblib) model, an ONNX model and a version's ONNX
export answer over HTTP with what the model itself predicts here, in the test process."""

from __future__ import annotations

import httpx
import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
import pandas as pd  # type: ignore[import-untyped]
from fastapi import FastAPI

from tests.conftest import Account
from tests.serving.conftest import deploy, predict, wait_for
from tests.support.serving import COLUMNS, add_export, add_version, rows, to_onnx, train


async def test_a_native_model_answers_what_it_predicts(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    model = train()
    await add_version(app, model)
    created = await deploy(client, accounts["editor"], version=1)
    assert created["status"] == "pending" and created["model"] == "iris"
    shown = await wait_for(client, accounts["viewer"], "iris-api", "serving")
    assert shown["serving_version"] == 1 and shown["serving_format"] == "sklearn"
    sent = rows(150)
    response = await predict(client, accounts["viewer"], "iris-api", sent)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == model.predict(pd.DataFrame(sent)).tolist()
    assert (body["model"], body["version"], body["deployment"]) == ("iris", 1, "iris-api")
    assert body["latency_ms"] > 0
    traffic = (
        await client.get("/api/v1/deployments/iris-api", headers=accounts["viewer"].headers)
    ).json()["traffic"]
    assert traffic["requests"] == 1 and traffic["rows"] == 150 and traffic["errors"] == 0
    assert traffic["p50_ms"] is not None and traffic["p99_ms"] >= traffic["p50_ms"]


async def test_an_onnx_model_answers_what_onnxruntime_predicts(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    data = to_onnx(train())
    await add_version(app, data, flavor="onnx")
    await deploy(client, accounts["editor"], version=1)
    shown = await wait_for(client, accounts["viewer"], "iris-api", "serving")
    assert shown["serving_format"] == "onnx"
    sent = rows(64, start=40)
    response = await predict(client, accounts["viewer"], "iris-api", sent)
    assert response.status_code == 200, response.text
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.asarray([[r[c] for c in COLUMNS] for r in sent], dtype=np.float32)
    expected = session.run(None, {session.get_inputs()[0].name: x})[0].tolist()
    assert response.json()["predictions"] == expected


async def test_a_version_with_an_onnx_export_is_served_from_the_export(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    model = train()
    version = await add_version(app, model)
    await add_export(app, version, model)
    await deploy(client, accounts["editor"], version=1)
    shown = await wait_for(client, accounts["viewer"], "iris-api", "serving")
    assert shown["serving_format"] == "onnx-export"
    sent = rows(150)
    response = await predict(client, accounts["viewer"], "iris-api", sent)
    assert response.json()["predictions"] == model.predict(pd.DataFrame(sent)).tolist()


async def test_an_api_token_predicts_and_a_viewer_cannot_deploy(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await add_version(app, train())
    refused = await client.post(
        "/api/v1/deployments",
        json={"name": "x", "model": "iris", "version": 1},
        headers=accounts["viewer"].headers,
    )
    assert refused.status_code == 403
    await deploy(client, accounts["editor"], version=1)
    await wait_for(client, accounts["viewer"], "iris-api", "serving")
    made = await client.post(
        "/api/v1/tokens", json={"name": "ci"}, headers=accounts["viewer"].headers
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    response = await client.post(
        "/api/v1/deployments/iris-api/predict",
        json={"rows": rows(1)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1
