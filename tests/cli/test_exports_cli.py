"""`plait models export` and `plait models package` against the real server."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Plait
from tests.support.model_versions import classifier, data_dir, log_model_version_on

# What these check is the command line's output and files, not the database: one is enough.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("database_url"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


def logged(live: Plait, name: str, **kwargs: Any) -> int:
    """A version of model `name`, logged by a run of a workflow of its own."""
    spec = {"name": f"wf-{name}", "tasks": [{"key": "fit", "kind": "shell", "command": "true"}]}
    assert live.http.post("/api/v1/workflows", json=spec).status_code == 201
    return log_model_version_on(data_dir(live), f"wf-{name}", name, **kwargs)


def test_export_a_version_and_download_its_package(live: Plait, tmp_path: Path) -> None:
    number = logged(live, "iris", obj=classifier())
    saved = tmp_path / "iris.onnx"
    shown = live.cli.ok("models", "export", "iris", str(number), "--download", str(saved))
    assert shown.startswith(f"iris version {number}: onnx, opset "), shown
    assert "Converted to ONNX; largest difference on the sample" in shown
    assert f"sha256 {hashlib.sha256(saved.read_bytes()).hexdigest()}" in shown
    again = json.loads(live.cli.ok("models", "export", "iris", str(number), "-o", "json"))
    assert again["sha256"] in shown and again["within_tolerance"] is True

    target = tmp_path / "iris.zip"
    live.cli.ok("models", "package", "iris", str(number), "--out", str(target))
    with zipfile.ZipFile(target) as z:
        assert "predict.py" in z.namelist()
        assert z.read("model.onnx") == saved.read_bytes()

    problem = live.cli.fails("models", "export", "iris", str(number), "--format", "pmml")
    assert "format: 'pmml' is not a format models export to; supported: onnx" in problem
    broken = logged(live, "broken", flavor="pickle", raw=b"junk")
    problem = live.cli.fails("models", "export", "broken", str(broken))
    assert problem.strip() == (
        "error: model.pkl failed to load: _pickle.UnpicklingError: pickle data was truncated"
    )
    missing = live.cli.fails("models", "package", "broken", str(broken))
    assert "has no ONNX export yet: export it first" in missing
