"""A model logged by a task on a `plait worker` process: its folder reaches the server's
artifact store file by file through the execution API, the model report follows, and the
server registers the version with the files it hashed itself."""

from __future__ import annotations

import hashlib

import pytest

from tests.celery.conftest import Live, StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.timeout(180)]

FIT = """
import plait
import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.eye(4)
plait.log_metric("accuracy", 0.75)
plait.log_model(LogisticRegression().fit(X, [0, 1, 0, 1]), "remote", sample=X[:2])
"""


def test_a_model_logged_on_a_worker_is_registered_with_its_files(
    live: Live, start_worker: StartWorker
) -> None:
    start_worker()
    run_id = live.start_run([{"key": "fit", "kind": "python", "code": FIT}])
    run = live.finished(run_id)
    assert run["status"] == "succeeded", run
    [version] = live.http.get(f"/api/v1/runs/{run_id}/models").json()
    assert (version["model"], version["task_key"]) == ("remote", "fit")
    assert version["metrics"] == {"accuracy": 0.75}
    assert [c["name"] for c in version["signature"]["inputs"]] == ["f0", "f1", "f2", "f3"]
    assert sorted(f["name"] for f in version["files"]) == ["MLmodel.json", "model.joblib"]
    base = f"/api/v1/models/remote/versions/{version['version']}/files"
    for entry in version["files"]:
        body = live.http.get(f"{base}/{entry['name']}").content
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
