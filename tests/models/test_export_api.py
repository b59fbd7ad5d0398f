"""Exporting a model version to ONNX through the API: the conversion, its check against the
original model, what is kept and listed, and every refusal a person can meet."""

from __future__ import annotations

import asyncio
import hashlib
import pickle
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.models import AuditEvent, Event
from tests.conftest import Account
from tests.support.model_versions import (
    COLUMNS,
    classifier,
    iris,
    log_model_version,
    regressor,
    signature,
)

Accounts = dict[str, Account]
V = "/api/v1/models/{}/versions/{}"


async def version(app: FastAPI, workflow: str, name: str, **kwargs: Any) -> str:
    ctx = app.state.plait
    number = await log_model_version(ctx.db, ctx.artifacts, workflow, name, **kwargs)
    return V.format(name, number)


async def test_a_classifier_exported_to_onnx_gives_the_models_answers(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, workflow: str
) -> None:
    model = classifier()
    path = await version(app, workflow, "iris", obj=model)
    editor = accounts["editor"].headers
    created = await client.post(f"{path}/export", json={"format": "onnx"}, headers=editor)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["within_tolerance"] is True
    assert 0 <= body["max_abs_diff"] < 1e-4
    assert body["meta"]["input"] == "X" and body["meta"]["columns"] == COLUMNS
    assert [o["name"] for o in body["meta"]["outputs"]] == ["label", "probabilities"]
    assert body["meta"]["converter"]["skl2onnx"]
    assert body["created_by"] == "ed"

    download = await client.get(body["download"], headers=accounts["viewer"].headers)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == body["sha256"]
    assert len(download.content) == body["size"]
    session = ort.InferenceSession(download.content, providers=["CPUExecutionProvider"])
    x, _ = iris()
    labels, probabilities = session.run(None, {"X": x.astype(np.float32)})
    assert (labels == model.predict(x)).all()
    assert np.abs(probabilities - model.predict_proba(x)).max() < 1e-4

    listed = await client.get(f"{path}/exports", headers=accounts["viewer"].headers)
    assert [e["format"] for e in listed.json()] == ["onnx"]
    assert listed.json()[0]["sha256"] == body["sha256"]

    async with app.state.plait.db.read() as s:
        events = list(await s.scalars(select(Event).where(Event.type == "model.exported")))
        audits = list(
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "model.exported"))
        )
    assert [e.data["model"] for e in events] == ["iris"]
    assert events[0].data["version"] == 1 and events[0].data["format"] == "onnx"
    assert events[0].data["max_abs_diff"] == body["max_abs_diff"]
    assert [a.actor for a in audits] == ["ed"]


async def test_a_second_export_returns_the_first_unless_replaced(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, workflow: str
) -> None:
    path = await version(app, workflow, "iris", obj=classifier())
    editor = accounts["editor"].headers
    first = (await client.post(f"{path}/export", json={"format": "onnx"}, headers=editor)).json()
    again = await client.post(f"{path}/export", json={"format": "onnx"},
                              headers=accounts["other_editor"].headers)  # fmt: skip
    assert again.status_code == 200
    assert again.json()["created_at"] == first["created_at"]
    assert again.json()["created_by"] == "ed"
    replaced = await client.post(f"{path}/export", json={"format": "onnx", "replace": True},
                                 headers=accounts["other_editor"].headers)  # fmt: skip
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["created_by"] == "ed2"
    assert replaced.json()["created_at"] > first["created_at"]
    listed = (await client.get(f"{path}/exports", headers=editor)).json()
    assert len(listed) == 1 and listed[0]["created_by"] == "ed2"
    download = await client.get(replaced.json()["download"], headers=editor)
    assert hashlib.sha256(download.content).hexdigest() == replaced.json()["sha256"]


async def test_a_regressor_fitted_on_three_columns_exports_too(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, workflow: str
) -> None:
    x, _ = iris()
    rows = [dict(zip(COLUMNS[1:], map(float, r), strict=True)) for r in x[::15, 1:]]
    path = await version(app, workflow, "sepal", obj=regressor(), sig=signature(rows, COLUMNS[1:]))
    created = await client.post(f"{path}/export", json={}, headers=accounts["editor"].headers)
    assert created.status_code == 201, created.text
    assert created.json()["meta"]["columns"] == COLUMNS[1:]
    assert created.json()["max_abs_diff"] < 1e-4


async def test_what_cannot_be_exported_is_refused_with_the_reason(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, workflow: str
) -> None:
    from sklearn.neighbors import NearestCentroid  # type: ignore[import-untyped]

    editor = accounts["editor"].headers
    x, y = iris()
    path = await version(app, workflow, "iris", obj=classifier())
    other = await client.post(f"{path}/export", json={"format": "pmml"}, headers=editor)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "format"
    assert "supported: onnx" in other.json()["errors"][0]["message"]

    centroid = await version(app, workflow, "centroid", flavor="pickle",
                             obj=NearestCentroid().fit(x, y))  # fmt: skip
    refused = await client.post(f"{centroid}/export", json={"format": "onnx"}, headers=editor)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert "NearestCentroid" in problem["detail"] and "\n" not in problem["detail"]
    assert problem["stage"] == "convert"
    assert "LogisticRegression" in problem["supported"]
    assert "RandomForestClassifier" in problem["supported"]

    broken = await version(app, workflow, "broken", flavor="pickle", raw=b"not a pickle at all")
    failed = await client.post(f"{broken}/export", json={"format": "onnx"}, headers=editor)
    assert failed.status_code == 422, failed.text
    assert failed.json()["detail"] == (
        "model.pkl failed to load: _pickle.UnpicklingError: invalid load key, 'n'."
    )
    assert str(app.state.plait.settings.data_dir) not in failed.text

    # A class of the task's own code: it is not there where models are loaded.
    custom = await version(app, workflow, "custom", flavor="pickle", raw=pickle.dumps(Custom()))
    missing = await client.post(f"{custom}/export", json={"format": "onnx"}, headers=editor)
    assert missing.status_code == 422
    assert "ModuleNotFoundError: No module named 'tests'" in missing.json()["detail"]

    onnx_path = await version(app, workflow, "already", flavor="onnx", raw=b"an onnx file")
    already = await client.post(f"{onnx_path}/export", json={"format": "onnx"}, headers=editor)
    assert already.status_code == 409
    assert "already ONNX" in already.json()["detail"]

    text_sig = signature([], ["species"])
    text_sig["inputs"][0]["type"] = "string"
    text_sig["sample"] = [{"species": "setosa"}]
    words = await version(app, workflow, "words", obj=classifier(), sig=text_sig)
    strings = await client.post(f"{words}/export", json={"format": "onnx"}, headers=editor)
    assert strings.status_code == 422
    assert "numeric inputs only" in strings.json()["detail"]

    nothing = await client.post(V.format("iris", 9) + "/export", json={}, headers=editor)
    assert nothing.status_code == 404
    assert (await client.get(f"{path}/exports/onnx/download", headers=editor)).status_code == 404
    listed = await client.get(f"{centroid}/exports", headers=editor)
    assert listed.json() == []


async def test_an_export_changed_where_it_is_kept_is_not_served(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, workflow: str
) -> None:
    path = await version(app, workflow, "iris", obj=classifier())
    editor = accounts["editor"].headers
    body = (await client.post(f"{path}/export", json={}, headers=editor)).json()
    root = app.state.plait.settings.data_dir / "artifacts"
    kept = [p for p in root.rglob("model.onnx") if ".onnx." in p.parent.name]
    assert len(kept) == 1
    kept[0].write_bytes(b"swapped by a task")  # tasks can write the artifacts folder
    response = await client.get(body["download"], headers=editor)
    assert response.status_code == 409
    assert "sha256" in response.json()["detail"]


class Custom:
    """A model class of a task's own module."""

    def predict(self, x: Any) -> Any:
        return x


async def test_two_first_exports_at_once_keep_one(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, workflow: str
) -> None:
    path = await version(app, workflow, "iris", obj=classifier())
    both = await asyncio.gather(*(
        client.post(f"{path}/export", json={"format": "onnx"}, headers=accounts[who].headers)
        for who in ("editor", "other_editor")
    ))  # fmt: skip
    assert sorted(r.status_code for r in both) == [200, 201], [r.text for r in both]
    assert both[0].json()["sha256"] == both[1].json()["sha256"]
    assert both[0].json()["created_by"] == both[1].json()["created_by"]
    listed = (await client.get(f"{path}/exports", headers=accounts["viewer"].headers)).json()
    assert len(listed) == 1 and listed[0]["created_at"] == both[0].json()["created_at"]
    async with app.state.plait.db.read() as s:
        events = list(await s.scalars(select(Event).where(Event.type == "model.exported")))
    assert len(events) == 1
