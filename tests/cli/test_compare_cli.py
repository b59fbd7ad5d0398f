"""`plait runs compare` against the real server: two runs' params with the difference marked,
their metrics table, the whole comparison with -o json|yaml, and refusals told."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Plait

pytestmark = pytest.mark.slow

WORKFLOW = """\
name: tune
params:
  lr: {type: number, default: 0.1}
  depth: {type: integer, default: 3}
tasks:
  - key: fit
    kind: python
    code: |
      import plait
      lr = plait.params()["lr"]
      for step in range(4):
          plait.log_metric("loss", (4 - step) * lr, step=step)
"""


def lines(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def test_compare_two_runs(any_live: Plait, tmp_path: Path) -> None:
    live = any_live
    path = tmp_path / "tune.yaml"
    path.write_text(WORKFLOW, encoding="utf-8")
    live.cli.ok("apply", "-f", str(path))
    ids = []
    for lr in ("0.5", "0.25"):
        started = live.cli.ok("run", "tune", "-p", f"lr={lr}", "--watch")
        found = re.search(r"^started run (\d+) ", started, re.M)
        assert found, started
        ids.append(found.group(1))
    one, two = ids

    params, metrics = live.cli.ok("runs", "compare", one, two).split("\n\n")
    assert lines(params) == [
        ["param", f"#{one}", f"#{two}", "same?"],
        ["lr", "0.5", "0.25", "≠ differs"],
        ["depth", "3", "3", "same"],
    ]
    assert lines(metrics) == [
        ["metric", "run", "last", "min", "max", "count"],
        ["loss", f"#{one}", "0.5", "0.5", "2", "4"],
        ["loss", f"#{two}", "0.25", "0.25", "1", "4"],
    ]

    whole = json.loads(live.cli.ok("runs", "compare", one, two, "-o", "json"))
    assert [run["id"] for run in whole["runs"]] == [int(one), int(two)]
    assert whole["metrics"][0]["runs"][one]["series"][0][:2] == [0, 2.0]
    assert yaml.safe_load(live.cli.ok("runs", "compare", one, two, "-o", "yaml")) == whole

    alone = live.cli.fails("runs", "compare", one)
    assert "query.ids: at least 2 different run ids" in alone
    assert "no run 99999" in live.cli.fails("runs", "compare", one, "99999")
