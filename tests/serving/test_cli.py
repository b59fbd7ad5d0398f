"""`plait deployments ...` against a real server: deploy, list, predict (rows as an argument,
from a file, from stdin), a validation problem said without a traceback, switch, delete."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Plait, running_plait
from tests.support.serving import data_dir_of, register, rows, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plait]:
    tmp = tmp_path_factory.mktemp("plait-deploy-cli")
    with running_plait("deploy-cli", tmp, PLAIT_LOAD_DEMO="false") as running:
        register(data_dir_of(running), train())
        register(data_dir_of(running), train(target_shift=10))
        yield running


def serving(live: Plait, name: str, version: int) -> dict[str, object]:
    deadline = time.monotonic() + 90
    while True:
        shown: dict[str, object] = json.loads(
            live.cli.ok("deployments", "show", name, "--output", "json")
        )
        if shown["status"] == "serving" and shown["serving_version"] == version:
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)


def test_the_deployments_commands(live: Plait, tmp_path: Path) -> None:
    cli = live.cli
    cli.ok("deployments", "create", "iris-cli", "iris", "--version", "1")
    serving(live, "iris-cli", 1)
    assert "iris-cli" in cli.ok("deployments", "list")
    sent = rows(3, start=100)
    answer = json.loads(cli.ok("deployments", "predict", "iris-cli", json.dumps(sent)))
    assert answer["predictions"] == [2, 2, 2] and answer["version"] == 1
    (tmp_path / "rows.json").write_text(json.dumps(sent[:1]))
    from_file = json.loads(
        cli.ok("deployments", "predict", "iris-cli", f"@{tmp_path / 'rows.json'}")
    )
    assert from_file["predictions"] == [2]
    from_stdin = json.loads(
        cli.ok("deployments", "predict", "iris-cli", "-", input=json.dumps(sent))
    )
    assert len(from_stdin["predictions"]) == 3
    said = cli.fails(
        "deployments", "predict", "iris-cli", json.dumps([{**sent[0], "petal_width": "x"}])
    )
    assert "rows[0].petal_width" in said and "expected a number, got 'x'" in said
    assert "exactly one of" in cli.fails("deployments", "switch", "iris-cli")
    cli.ok("deployments", "switch", "iris-cli", "--version", "2")
    serving(live, "iris-cli", 2)
    switched = json.loads(cli.ok("deployments", "predict", "iris-cli", json.dumps(sent)))
    assert switched["predictions"] == [12, 12, 12]
    cli.ok("deployments", "delete", "iris-cli")
    assert "iris-cli" not in cli.ok("deployments", "list")
