"""`plait models` against the real `plait server` in its own process, over a model a real
run logged."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Plait, running_plait

pytestmark = pytest.mark.slow
TWO = """
import plait
import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.eye(4)
plait.log_metric("accuracy", 0.75)
for c in (0.5, 2.0):
    plait.log_model(LogisticRegression(C=c).fit(X, [0, 1, 0, 1]), "iris", sample=X[:2])
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plait]:
    with running_plait("sqlite", tmp_path_factory.mktemp("plait-models")) as running:
        yield running


def test_list_show_and_promote(live: Plait, tmp_path: Path) -> None:
    doc = {"name": "fit", "tasks": [{"key": "fit", "kind": "python", "code": TWO}]}
    live.http.post("/api/v1/workflows", json=doc).raise_for_status()
    run = live.http.post("/api/v1/workflows/fit/runs", json={}).json()
    deadline = time.monotonic() + 60
    while live.http.get(f"/api/v1/runs/{run['id']}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, live.http.get(f"/api/v1/runs/{run['id']}").text
        time.sleep(0.2)

    assert "iris" in live.cli.ok("models", "list")
    listed = json.loads(live.cli.ok("models", "list", "-o", "json"))
    assert [(m["name"], m["versions"]) for m in listed] == [("iris", 2)]
    shown = live.cli.ok("models", "show", "iris")
    assert "accuracy" in shown and "0.75" in shown
    one = json.loads(live.cli.ok("models", "show", "iris", "--version", "1", "-o", "json"))
    assert one["lineage"]["run"]["workflow"] == "fit"
    assert "made by run" in live.cli.ok("models", "show", "iris", "--version", "2")

    assert "now in production" in live.cli.ok("models", "promote", "iris", "1", "production")
    live.cli.ok("models", "promote", "iris", "2", "production", "--comment", "better")
    versions = json.loads(live.cli.ok("models", "show", "iris", "-o", "json"))["version_list"]
    assert {v["version"]: v["stage"] for v in versions} == {1: "archived", 2: "production"}
    said = live.cli.fails("models", "promote", "iris", "2", "live")
    assert "none, staging, production, archived" in said
    assert "no model named 'nope'" in live.cli.fails("models", "show", "nope")
