"""Real runs (local executor, sandboxed) whose tasks train a model on iris and log it:
what the registry then holds (signature, params, metrics, lineage, files), and what a task
may not log."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sklearn.datasets import load_iris  # type: ignore[import-untyped]
from sqlalchemy import select

from plait.db.models import ModelVersion, TaskAttempt
from plait.executors.reports import ModelReport
from plait.models import registry
from plait.models.files import TamperedFile, local_copy
from tests.conftest import Account
from tests.support.models import create, error_of, py, run, train_code

Accounts = dict[str, Account]
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


async def version(client: httpx.AsyncClient, who: Account, n: int = 1) -> dict[str, Any]:
    found = await client.get(f"/api/v1/models/iris/versions/{n}", headers=who.headers)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def iris_csv() -> bytes:
    frame = load_iris(as_frame=True).frame
    out = io.StringIO()
    frame.to_csv(out, index=False)
    return out.getvalue().encode()


READ_DATASET = """
import pandas as pd
table = pd.read_csv(plait.dataset("iris-data"))
assert len(table) == 150
"""


async def test_a_dataframe_sample_gives_named_inputs_and_the_run_its_lineage(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor, viewer = accounts["editor"], accounts["viewer"]
    r = await client.post("/api/v1/datasets", json={"name": "iris-data"}, headers=editor.headers)
    assert r.status_code == 201, r.text
    files = {"file": ("iris.csv", iris_csv(), "text/csv")}
    r = await client.post("/api/v1/datasets/iris-data/versions", files=files,
                          headers=editor.headers)  # fmt: skip
    assert r.status_code == 201, r.text
    await create(client, editor, [py("fit", train_code("dataframe", READ_DATASET))])
    done = await run(client, editor, params={"C": 0.5})
    assert done["status"] == "succeeded", error_of(done, "fit")

    got = await version(client, viewer)
    assert got["flavor"] == "sklearn" and got["stage"] == "none"
    sig = got["signature"]
    assert sig["inputs"] == [{"name": c, "type": "double"} for c in COLUMNS]
    assert sig["outputs"] == [{"name": "prediction", "type": "long", "shape": [-1]}]
    assert len(sig["sample"]) == 5 and sig["sample"][0] == {
        "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2
    }  # fmt: skip
    assert got["params"] == {"C": 0.5}
    assert got["metrics"]["loss"] == 0.25
    assert got["metrics"]["accuracy"] > 0.9  # the last value, not the first (0.5)
    assert got["framework"]["sklearn"] and got["framework"]["python"].startswith("3.")
    assert got["run_id"] == done["id"] and got["task_key"] == "fit" and got["attempt"] == 1
    assert got["created_by"] == "ed"
    assert got["description"] == "iris classifier" and got["tags"] == ["demo"]
    lineage = got["lineage"]
    assert lineage["run"] == {"id": done["id"], "workflow": "train", "status": "succeeded",
                              "task_key": "fit", "attempt": 1}  # fmt: skip
    assert [(d["dataset"], d["version"]) for d in lineage["datasets"]] == [("iris-data", 1)]
    assert lineage["exports"] == [] and lineage["stages"] == []
    same = await client.get("/api/v1/models/iris/versions/1/lineage", headers=viewer.headers)
    assert same.json() == lineage

    model = (await client.get("/api/v1/models/iris", headers=viewer.headers)).json()
    assert model["versions"] == 1 and model["latest"]["version"] == 1
    assert model["description"] == "iris classifier" and model["created_by"] == "ed"
    of_run = await client.get(f"/api/v1/runs/{done['id']}/models", headers=viewer.headers)
    assert [(v["model"], v["version"]) for v in of_run.json()] == [("iris", 1)]


@pytest.mark.parametrize("sample", ["numpy", "records"])
async def test_numpy_and_record_samples(
    client: httpx.AsyncClient, accounts: Accounts, sample: str
) -> None:
    editor = accounts["editor"]
    await create(client, editor, [py("fit", train_code(sample))])
    done = await run(client, editor)
    assert done["status"] == "succeeded", error_of(done, "fit")
    sig = (await version(client, editor))["signature"]
    if sample == "numpy":
        assert sig["inputs"] == [{"name": f"f{i}", "type": "double"} for i in range(4)]
        assert len(sig["sample"]) == 5 and sig["sample"][0]["f0"] == 5.1
    else:
        assert [c["name"] for c in sig["inputs"]] == COLUMNS
        assert len(sig["sample"]) == 3
    assert sig["outputs"][0]["shape"] == [-1]


async def test_files_download_with_the_registered_sha256_and_a_changed_file_is_refused(
    client: httpx.AsyncClient, accounts: Accounts, app: FastAPI
) -> None:
    editor = accounts["editor"]
    await create(client, editor, [py("fit", train_code())])
    assert (await run(client, editor))["status"] == "succeeded"
    got = await version(client, editor)
    names = sorted(f["name"] for f in got["files"])
    assert names == ["MLmodel.json", "model.joblib"]
    for entry in got["files"]:
        url = f"/api/v1/models/iris/versions/1/files/{entry['name']}"
        body = await client.get(url, headers=accounts["viewer"].headers)
        assert body.status_code == 200
        assert hashlib.sha256(body.content).hexdigest() == entry["sha256"]
        assert len(body.content) == entry["size"]
    climbing = await client.get("/api/v1/models/iris/versions/1/files/..%2F..%2Fsecret",
                                headers=editor.headers)  # fmt: skip
    assert climbing.status_code == 404, climbing.text
    other = await client.get("/api/v1/models/iris/versions/1/files/output.log",
                             headers=editor.headers)  # fmt: skip
    assert other.status_code == 404

    state = app.state.plait
    async with state.db.read() as session:
        row = await registry.get_version(session, "iris", 1)
    data_dir = state.settings.data_dir
    copy = await local_copy(state.artifacts, data_dir, row.artifact_key, row.files)
    assert sorted(p.name for p in copy.iterdir()) == names
    stored = data_dir / "artifacts" / row.artifact_key / "model.joblib"
    stored.write_bytes(stored.read_bytes() + b"tampered")
    with pytest.raises(TamperedFile):
        await local_copy(state.artifacts, data_dir / "elsewhere", row.artifact_key, row.files)


async def test_the_same_report_applied_twice_makes_one_version(
    client: httpx.AsyncClient, accounts: Accounts, app: FastAPI
) -> None:
    editor = accounts["editor"]
    await create(client, editor, [py("fit", train_code())])
    assert (await run(client, editor))["status"] == "succeeded"
    db = app.state.plait.db
    async with db.read() as session:
        row = await registry.get_version(session, "iris", 1)
        report = ModelReport(attempt_id=0, name="iris", artifact="model-iris", flavor="sklearn",
                             key=row.artifact_key, files=row.files)  # fmt: skip
    for _ in range(2):
        async with db.write() as session:
            attempt = await session.scalar(select(TaskAttempt).where(
                TaskAttempt.run_id == row.run_id, TaskAttempt.task_key == "fit"))  # fmt: skip
            assert attempt is not None
            await registry.register(session, attempt, report)
    async with db.read() as session:
        count = len(list(await session.scalars(select(ModelVersion.id))))
    assert count == 1
    # A second run is a second version, numbered next.
    assert (await run(client, editor))["status"] == "succeeded"
    assert (await version(client, editor, 2))["version"] == 2


BAD = {
    "flavor": ('plait.log_model(object(), "m", flavor="tensorflow")',
               "flavor 'tensorflow' is not one of sklearn, onnx, pickle"),
    "name": ('plait.log_model(object(), "9 lives")', "model name '9 lives'"),
    "one_d": ("plait.log_model(m, 'm', sample=np.zeros(4))", "sample is a 1-D array"),
    "columns": ("plait.log_model(m, 'm', sample=np.zeros((2, 3)))",
                "the model could not predict on the sample"),
    "kind": ("plait.log_model(m, 'm', sample='rows')", "sample is a str"),
}  # fmt: skip
FITTED = """
import plait
import numpy as np
from sklearn.linear_model import LogisticRegression
m = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
"""


async def test_bad_log_model_calls_fail_the_task_with_the_sdk_message(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    await create(client, editor, [py(key, FITTED + call) for key, (call, _) in BAD.items()])
    done = await run(client, editor)
    assert done["status"] == "failed"
    for key, (_, message) in BAD.items():
        error = error_of(done, key)
        assert "ValueError" in error and message in error, (key, error)
    assert (await client.get("/api/v1/models", headers=editor.headers)).json()["items"] == []


ONNX = """
import plait
import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
X = X.astype(np.float32)
model = LogisticRegression(max_iter=500).fit(X, y)
onx = to_onnx(model, X[:1], options={"zipmap": False})
plait.log_model(onx, "iris", flavor="onnx", sample=X[:3])
"""


async def test_an_onnx_model_lists_its_graph_outputs(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    await create(client, editor, [py("fit", ONNX)])
    done = await run(client, editor)
    assert done["status"] == "succeeded", error_of(done, "fit")
    got = await version(client, editor)
    assert got["flavor"] == "onnx"
    assert [f["name"] for f in got["files"]] == ["MLmodel.json", "model.onnx"]
    sig = got["signature"]
    assert sig["inputs"] == [{"name": f"f{i}", "type": "float"} for i in range(4)]
    assert sig["outputs"] == [
        {"name": "label", "type": "long", "shape": [-1]},
        {"name": "probabilities", "type": "float", "shape": [-1, 3]},
    ]
    assert got["framework"]["onnx"]
