"""The whole path through real runs: a task trains a classifier and logs it, the version is
exported to ONNX, promoted and deployed following `production`, predictions over HTTP equal
the logged model's own, the deployment's package predicts the same, and promoting the next
version moves the deployment to it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import httpx
import joblib  # type: ignore[import-untyped]
import numpy as np
from sklearn.datasets import load_iris  # type: ignore[import-untyped]

from tests.conftest import Account
from tests.serving.conftest import deploy, predict, wait_for
from tests.support.models import create, py, run, train_code

Accounts = dict[str, Account]
MODEL = "/api/v1/models/iris"


def iris_rows() -> tuple[Any, list[dict[str, float]]]:
    frame = load_iris(as_frame=True).data
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return frame, frame.to_dict("records")


async def logged_model(client: httpx.AsyncClient, who: Account, version: int) -> Any:
    """The model file the task logged, as the registry keeps it (trusted here: a test)."""
    found = await client.get(f"{MODEL}/versions/{version}/files/model.joblib", headers=who.headers)
    assert found.status_code == 200, found.text
    return joblib.load(io.BytesIO(found.content))


async def promote(client: httpx.AsyncClient, who: Account, version: int) -> None:
    moved = await client.post(f"{MODEL}/versions/{version}/stage", json={"stage": "production"},
                              headers=who.headers)  # fmt: skip
    assert moved.status_code == 200, moved.text


def run_package(zipped: bytes, folder: Path, rows: list[dict[str, float]]) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        z.extractall(folder)
    done = subprocess.run(
        [sys.executable, "-I", "predict.py", "-"], cwd=folder, input=json.dumps(rows),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


async def test_train_register_export_deploy_predict_then_promote_the_next(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    editor, viewer = accounts["editor"], accounts["viewer"]
    await create(client, editor, [py("fit", train_code())])
    first = await run(client, editor, params={"C": 1.0})
    assert first["status"] == "succeeded", first

    exported = await client.post(f"{MODEL}/versions/1/export", json={}, headers=editor.headers)
    assert exported.status_code == 201, exported.text
    assert exported.json()["max_abs_diff"] < 1e-4
    await promote(client, editor, 1)
    await deploy(client, editor, "iris-api", stage="production")
    serving = await wait_for(client, viewer, "iris-api", "serving", version=1)
    assert serving["serving_format"] == "onnx-export"

    frame, rows = iris_rows()
    model = await logged_model(client, viewer, 1)
    answered = await predict(client, viewer, "iris-api", rows)
    assert answered.status_code == 200, answered.text
    assert answered.json()["predictions"] == model.predict(frame).tolist()
    assert answered.json()["version"] == 1

    package = await client.get("/api/v1/deployments/iris-api/package", headers=viewer.headers)
    assert package.status_code == 200, package.text
    offline = run_package(package.content, tmp_path / "pkg", rows)
    assert offline["predictions"] == model.predict(frame).tolist()
    assert np.abs(np.asarray(offline["outputs"]["probabilities"])
                  - model.predict_proba(frame)).max() < 1e-4  # fmt: skip

    # A much weaker model (strong regularisation) as version 2: promoting it archives v1 and
    # the deployment following production moves to it, serving its native flavor.
    second = await run(client, editor, params={"C": 0.0005})
    assert second["status"] == "succeeded", second
    await promote(client, editor, 2)
    v1 = (await client.get(f"{MODEL}/versions/1", headers=viewer.headers)).json()
    assert v1["stage"] == "archived"
    moved = await wait_for(client, viewer, "iris-api", "serving", version=2)
    assert moved["serving_format"] == "sklearn"
    weaker = await logged_model(client, viewer, 2)
    answered = await predict(client, viewer, "iris-api", rows)
    assert answered.status_code == 200, answered.text
    assert answered.json()["version"] == 2
    assert answered.json()["predictions"] == weaker.predict(frame).tolist()
    assert weaker.predict(frame).tolist() != model.predict(frame).tolist()  # really another
