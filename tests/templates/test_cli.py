"""`plait templates list|show|use` against a real server, each command in its own process."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cli.conftest import Plait, running_plait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]  # a server starts, on a busy machine


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plait]:
    with running_plait("sqlite", tmp_path_factory.mktemp("plait-templates")) as running:
        yield running


def test_list_show_and_use_a_template(live: Plait) -> None:
    cli = live.cli
    rows = [line.split("\t") for line in cli.ok("templates", "list").splitlines()]
    assert rows[0][:3] == ["id", "name", "category"]
    assert [r[1] for r in rows[1:]] == ["batch-inference", "csv-validation",
                                        "hyperparameter-sweep", "sklearn-training"]  # fmt: skip
    only = cli.ok("templates", "list", "--category", "inference", "-o", "json")
    assert [t["id"] for t in json.loads(only)["items"]] == ["builtin:batch-inference"]

    shown = cli.ok("templates", "show", "builtin:sklearn-training")
    assert "n_estimators\tinteger\t100\t" in shown
    assert "key: evaluate" in shown  # the workflow, as plait export writes it

    said = cli.ok("templates", "use", "sklearn-training", "--name", "forest",
                  "-p", "n_estimators=12", "-p", "max_depth=2")  # fmt: skip
    assert "created workflow forest from sklearn-training" in said
    wf = live.http.get("/api/v1/workflows/forest").json()
    assert (wf["params"]["n_estimators"]["default"], wf["params"]["max_depth"]["default"]) == (
        12,
        2,
    )

    refused = cli.fails("templates", "use", "sklearn-training", "--name", "f2", "-p", "depth=3")
    assert "params.depth: unknown parameter; did you mean 'max_depth'?" in refused
    assert "no template 'nope'" in cli.fails("templates", "show", "nope")
