"""The standalone package of a model version: a zip whose predict.py, run with nothing but
its own files (numpy and onnxruntime installed), answers as the original model does."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import numpy as np
from fastapi import FastAPI

from tests.conftest import Account
from tests.support.model_versions import COLUMNS, classifier, iris, log_model_version

FILES = ["README.md", "model.onnx", "predict.py", "requirements.txt", "signature.json"]


def predict(folder: Path, rows: object) -> subprocess.CompletedProcess[str]:
    """predict.py in isolated mode (-I: not this repository, not PYTHONPATH), from its folder."""
    return subprocess.run(
        [sys.executable, "-I", "predict.py", "-"], cwd=folder, input=json.dumps(rows),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_the_package_predicts_what_the_model_predicts(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], workflow: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    ctx = app.state.plait
    model = classifier()
    number = await log_model_version(ctx.db, ctx.artifacts, workflow, "iris", obj=model)
    path = f"/api/v1/models/iris/versions/{number}"
    viewer = accounts["viewer"].headers
    early = await client.get(f"{path}/package", headers=viewer)
    assert early.status_code == 409
    assert "export it first" in early.json()["detail"]

    exported = await client.post(f"{path}/export", json={}, headers=accounts["editor"].headers)
    assert exported.status_code == 201
    response = await client.get(exported.json()["package"], headers=viewer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="iris-v1.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        assert sorted(z.namelist()) == FILES
        z.extractall(tmp_path / "pkg")
    folder = tmp_path / "pkg"
    signature = json.loads((folder / "signature.json").read_text())
    assert [i["name"] for i in signature["inputs"]] == COLUMNS
    requirements = (folder / "requirements.txt").read_text().split()
    assert [r.split(">=")[0] for r in requirements] == ["numpy", "onnxruntime"]
    assert all("<" in r for r in requirements)

    x, _ = iris()
    rows: list[dict[str, object]] = [dict(zip(COLUMNS, map(float, r), strict=True)) for r in x[::7]]
    done = predict(folder, rows)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["predictions"] == model.predict(x[::7]).tolist()
    probabilities = np.asarray(out["outputs"]["probabilities"])
    assert np.abs(probabilities - model.predict_proba(x[::7])).max() < 1e-4

    rows[1] = {**rows[1], "sepal_length": "abc"}
    del rows[3]["petal_width"]
    bad = predict(folder, {"rows": rows})
    assert bad.returncode == 2
    errors = json.loads(bad.stderr)["errors"]
    assert errors == [
        {"field": "rows[1].sepal_length", "message": "expected a number, got 'abc'"},
        {"field": "rows[3].petal_width", "message": "missing"},
    ]


async def test_an_onnx_version_is_packaged_as_it_is(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], workflow: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    from skl2onnx import to_onnx  # type: ignore[import-untyped]

    model = classifier()
    x, _ = iris()
    onx = to_onnx(model, x[:1].astype(np.float32), options={"zipmap": False})
    ctx = app.state.plait
    number = await log_model_version(ctx.db, ctx.artifacts, workflow, "native", flavor="onnx",
                                     raw=onx.SerializeToString())  # fmt: skip
    response = await client.get(f"/api/v1/models/native/versions/{number}/package",
                                headers=accounts["viewer"].headers)  # fmt: skip
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        z.extractall(tmp_path / "pkg")
    rows = [dict(zip(COLUMNS, map(float, r), strict=True)) for r in x[:5]]
    done = predict(tmp_path / "pkg", rows)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["predictions"] == model.predict(x[:5]).tolist()
