"""Model versions for the export tests, made in the test process: a model trained here, its
folder written as `plait.log_model` writes it (design.md: MLmodel.json, the model file, the
signature with its sample) into the artifact store under a finished run's attempt, its files
hashed, and the `Model`/`ModelVersion` rows inserted.

A stand-in for `log_model` (built at the same time by the registry work): at merge, tests can
make their versions with the real thing.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
from sqlalchemy import func, select

from plait.db.engine import Database
from plait.db.models import Model, ModelVersion, Run, TaskAttempt, Workflow
from plait.storage.artifacts import ArtifactStore

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
FILES = {"sklearn": "model.joblib", "pickle": "model.pkl", "onnx": "model.onnx"}


def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris  # type: ignore[import-untyped]

    x, y = load_iris(return_X_y=True)
    return x, y


def sample_rows(x: np.ndarray, n: int = 12) -> list[dict[str, float]]:
    """Every 12th row (all three species), as the JSON objects of a signature's sample."""
    picked = x[:: max(1, len(x) // n)][:n]
    return [dict(zip(COLUMNS, map(float, row), strict=True)) for row in picked]


def classifier() -> Any:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    x, y = iris()
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y.astype(int))


def regressor() -> Any:
    from sklearn.ensemble import RandomForestRegressor  # type: ignore[import-untyped]

    x, _ = iris()
    return RandomForestRegressor(n_estimators=10, random_state=0).fit(x[:, 1:], x[:, 0])


def signature(rows: list[dict[str, float]], columns: list[str] = COLUMNS) -> dict[str, Any]:
    return {"inputs": [{"name": c, "type": "double"} for c in columns],
            "outputs": [{"name": "prediction", "type": "long", "shape": [-1]}],
            "sample": [{c: r[c] for c in columns} for r in rows]}  # fmt: skip


def write_folder(
    folder: Path, name: str, flavor: str, sig: dict[str, Any], obj: Any = None,
    raw: bytes | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The model folder (MLmodel.json + the model file), its files as registered."""
    folder.mkdir(parents=True)
    file = FILES[flavor]
    if raw is not None:
        (folder / file).write_bytes(raw)
    elif flavor == "sklearn":
        joblib.dump(obj, folder / file)
    else:
        (folder / file).write_bytes(pickle.dumps(obj))
    mlmodel = {"format": 1, "name": name, "flavor": flavor, "file": file, "signature": sig,
               "framework": {"python": "3", "sklearn": "1"}}  # fmt: skip
    (folder / "MLmodel.json").write_text(json.dumps(mlmodel), encoding="utf-8")
    return [
        {"name": p.name, "size": p.stat().st_size,
         "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in sorted(folder.iterdir())
    ]  # fmt: skip


@dataclass(frozen=True)
class Attempt:
    run_id: int
    task_key: str
    attempt: int


async def finished_attempt(db: Database, workflow_id: int) -> Attempt:
    """A succeeded run of the workflow with one succeeded attempt of task `fit`."""
    async with db.write() as session:
        run = Run(workflow_id=workflow_id, workflow_version=1, params={}, status="succeeded",
                  trigger="manual")  # fmt: skip
        session.add(run)
        await session.flush()
        session.add(TaskAttempt(run_id=run.id, task_key="fit", attempt=1, status="succeeded"))
        return Attempt(run.id, "fit", 1)


async def log_model_version(
    db: Database, store: ArtifactStore, workflow: str, name: str, *, flavor: str = "sklearn",
    obj: Any = None, raw: bytes | None = None, sig: dict[str, Any] | None = None,
    user_id: int | None = None,
) -> int:  # fmt: skip
    """What `plait.log_model(obj, name, flavor=..., sample=...)` in a task of a finished run of
    `workflow` leaves, registered: the new version's number."""
    async with db.read() as session:
        wf_id = await session.scalar(select(Workflow.id).where(Workflow.name == workflow))
    assert wf_id is not None, workflow
    ref = await finished_attempt(db, wf_id)
    if sig is None:
        sig = signature(sample_rows(iris()[0]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / f"model-{name}"
        files = write_folder(folder, name, flavor, sig, obj, raw)
        key = await store.put_file(ref, folder.name, folder)
    async with db.write() as session:
        model = await session.scalar(select(Model).where(Model.name == name))
        if model is None:
            model = Model(name=name, created_by=user_id)
            session.add(model)
            await session.flush()
        number = (await session.scalar(
            select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
        ) or 0) + 1  # fmt: skip
        session.add(ModelVersion(
            model_id=model.id, version=number, flavor=flavor, artifact_key=key, files=files,
            signature=sig, framework={"python": "3"}, params={}, metrics={}, run_id=ref.run_id,
            task_key=ref.task_key, attempt=ref.attempt, created_by=user_id,
        ))  # fmt: skip
    return number


def log_model_version_on(data_dir: Path, workflow: str, name: str, **kwargs: Any) -> int:
    """`log_model_version` into a running server's SQLite database and local artifact store
    (`<data_dir>/plait.db`, `<data_dir>/artifacts`), from synchronous code (a browser test):
    in a thread of its own, whose event loop nothing else shares."""
    import asyncio
    import threading

    from plait.storage.artifacts import LocalArtifactStore

    async def log() -> int:
        db = Database(f"sqlite+aiosqlite:///{data_dir / 'plait.db'}")
        try:
            return await log_model_version(db, LocalArtifactStore(data_dir), workflow, name,
                                           **kwargs)  # fmt: skip
        finally:
            await db.dispose()

    found: list[int] = []
    thread = threading.Thread(target=lambda: found.append(asyncio.run(log())))
    thread.start()
    thread.join()
    assert found, "the model version was not logged"
    return found[0]


def data_dir(running: Any) -> Path:
    """The data directory of a server started by `tests.cli.conftest.running_plait`."""
    return Path(running.server.stdout_path).parent.parent / "data"
