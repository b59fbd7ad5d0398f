"""Model versions for serving tests, made the way `plait.log_model` and the ONNX export
will make them (design.md's model folder), without either: an iris model trained here, its
folder kept in the artifact store under a run's attempt, and the registry's rows."""

from __future__ import annotations

import asyncio
import hashlib
import json
import pickle
import platform
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import sklearn  # type: ignore[import-untyped]
from fastapi import FastAPI
from sklearn.datasets import load_iris  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sqlalchemy import func, select

from plait.db.engine import Database
from plait.db.models import Model, ModelExport, ModelVersion, Run, Workflow
from plait.storage import ArtifactStore
from plait.storage.artifacts import LocalArtifactStore

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@dataclass(frozen=True)
class Attempt:
    run_id: int
    task_key: str
    attempt: int


def iris() -> pd.DataFrame:
    data = load_iris()
    return pd.DataFrame(data.data, columns=COLUMNS), data.target


def train(max_iter: int = 200, target_shift: int = 0) -> LogisticRegression:
    """A logistic regression on iris, fitted on a DataFrame (it keeps feature_names_in_).
    `target_shift` renames the classes (0,1,2 → 0+s, 1+s, 2+s): a second model whose
    predictions tell it apart from the first."""
    x, y = iris()
    return LogisticRegression(max_iter=max_iter).fit(x, y + target_shift)


def rows(count: int = 10, start: int = 0) -> list[dict[str, float]]:
    x, _ = iris()
    records: list[dict[str, float]] = x.iloc[start : start + count].to_dict("records")
    return records


def signature(output: str = "long", sample: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "inputs": [{"name": c, "type": "double"} for c in COLUMNS],
        "outputs": [{"name": "prediction", "type": output, "shape": [-1]}],
        "sample": rows(5) if sample is None else sample,
    }


def to_onnx(model: LogisticRegression) -> bytes:
    from skl2onnx import to_onnx as convert  # type: ignore[import-untyped]

    proto = convert(
        model,
        np.asarray(iris()[0].iloc[:5], dtype=np.float32),
        options={"zipmap": False},
        target_opset=17,
    )
    data: bytes = proto.SerializeToString()
    return data


def model_bytes(model: Any, flavor: str) -> bytes:
    if isinstance(model, bytes):  # the file itself (a corrupt one, a crafted pickle)
        return model
    if flavor == "onnx":
        return to_onnx(model)
    if flavor == "pickle":
        return pickle.dumps(model)
    with tempfile.TemporaryDirectory() as tmp:
        joblib.dump(model, Path(tmp) / "m.joblib")
        return (Path(tmp) / "m.joblib").read_bytes()


FILES = {"sklearn": "model.joblib", "pickle": "model.pkl", "onnx": "model.onnx"}


def _file_entry(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"name": path.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


async def _run_id(db: Database) -> int:
    """A run to keep model folders under (one per test database)."""
    async with db.write() as session:
        found = (await session.execute(select(Run.id).limit(1))).scalar_one_or_none()
        if found is not None:
            return int(found)
        wf = Workflow(name="train-iris", spec={}, current_version=1)
        session.add(wf)
        await session.flush()
        run = Run(
            workflow_id=wf.id, workflow_version=1, params={}, status="succeeded", trigger="manual"
        )
        session.add(run)
        await session.flush()
        return run.id


async def add_version(
    app: FastAPI,
    model: Any,
    *,
    name: str = "iris",
    flavor: str = "sklearn",
    stage: str = "none",
    sig: dict[str, Any] | None = None,
) -> ModelVersion:
    """A new version of model `name`: its folder (MLmodel.json + the model file) kept under
    the run's attempt `fit/<version>` as `model-<name>`, and its rows. `model` is a fitted
    estimator or the model file's bytes (a corrupt one, a crafted pickle)."""
    return await add_version_to(
        app.state.plait.db,
        app.state.plait.artifacts,
        model,
        name=name,
        flavor=flavor,
        stage=stage,
        sig=sig,
    )


async def add_version_to(
    db: Database,
    store: ArtifactStore,
    model: Any,
    *,
    name: str = "iris",
    flavor: str = "sklearn",
    stage: str = "none",
    sig: dict[str, Any] | None = None,
) -> ModelVersion:
    run_id = await _run_id(db)
    sig = signature() if sig is None else sig
    async with db.write() as session:
        found = (
            await session.execute(select(Model).where(Model.name == name))
        ).scalar_one_or_none()
        if found is None:
            found = Model(name=name)
            session.add(found)
            await session.flush()
        number = 1 + int(
            (
                await session.execute(select(func.count()).where(ModelVersion.model_id == found.id))
            ).scalar_one()
        )
        ref = Attempt(run_id, "fit", number)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / f"model-{name}"
            folder.mkdir()
            file = FILES[flavor]
            (folder / file).write_bytes(model_bytes(model, flavor))
            framework = {"python": platform.python_version(), "sklearn": sklearn.__version__}
            (folder / "MLmodel.json").write_text(
                json.dumps(
                    {
                        "format": 1,
                        "name": name,
                        "flavor": flavor,
                        "file": file,
                        "signature": sig,
                        "framework": framework,
                    }
                )
            )
            files = [_file_entry(folder / "MLmodel.json"), _file_entry(folder / file)]
            key = await store.put_file(ref, f"model-{name}", folder)
        version = ModelVersion(
            model_id=found.id,
            version=number,
            flavor=flavor,
            artifact_key=key,
            files=files,
            signature=sig,
            framework=framework,
            stage=stage,
            run_id=run_id,
            task_key="fit",
            attempt=number,
        )
        session.add(version)
        await session.flush()
        return version


async def add_export(app: FastAPI, version: ModelVersion, model: LogisticRegression) -> None:
    """The ONNX export of `version`, as the export helper keeps it: a folder with model.onnx
    and export.json, and its model_exports row."""
    store: ArtifactStore = app.state.plait.artifacts
    data = to_onnx(model)
    assert version.run_id is not None and version.attempt is not None
    ref = Attempt(version.run_id, "fit", version.attempt)
    meta = {"opset": 17, "input": "X", "columns": COLUMNS}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export-onnx"
        folder.mkdir()
        (folder / "model.onnx").write_bytes(data)
        (folder / "export.json").write_text(json.dumps({"input": "X", "columns": COLUMNS}))
        key = await store.put_file(ref, "export-onnx", folder)
    async with app.state.plait.db.write() as session:
        session.add(
            ModelExport(
                model_version_id=version.id,
                format="onnx",
                stored_key=key,
                size=len(data),
                checksum=hashlib.sha256(data).hexdigest(),
                max_abs_diff=0.0,
                meta=meta,
            )
        )


def data_dir_of(plait: Any) -> Path:
    """The data directory of a server started by tests/cli's `running_plait` (beside its
    logs folder)."""
    return Path(plait.server.stdout_path).parent.parent / "data"


def register(data_dir: Path, model: Any, **options: Any) -> None:
    """A version added to a running server's own (SQLite) database and artifact store, from
    a synchronous test (a browser test): in a thread of its own, with an event loop of its own."""

    async def add() -> None:
        db = Database(f"sqlite+aiosqlite:///{data_dir / 'plait.db'}")
        try:
            await add_version_to(db, LocalArtifactStore(data_dir), model, **options)
        finally:
            await db.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, add()).result()
