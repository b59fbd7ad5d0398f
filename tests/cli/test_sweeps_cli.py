"""`plait sweep` and `plait sweeps` against the real server, each in its own process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.conftest import Plait

# What these check is the tasks' work and the output, not the database: one is enough.
ONE_DATABASE = [
    pytest.mark.usefixtures("database_url"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
pytestmark = [pytest.mark.slow, *ONE_DATABASE]

SCORED = """\
name: tune
max_active_runs: 4
params:
  lr: {type: number, default: 0.1}
  depth: {type: integer, default: 3}
tasks:
  - key: fit
    kind: python
    code: |
      import plait
      p = plait.params()
      plait.log_metric("score", -(p["lr"] - 0.05) ** 2 - 0.001 * (p["depth"] - 5) ** 2)
"""


def test_sweep_a_grid_watch_it_and_show_the_best_run(live: Plait, tmp_path: Path) -> None:
    path = tmp_path / "tune.yaml"
    path.write_text(SCORED, encoding="utf-8")
    live.cli.ok("apply", "-f", str(path))
    done = live.cli.run("sweep", "tune", "--grid", "lr=0.01,0.05", "--grid", "depth=3,5",
                        "--max-parallel", "2", "--metric", "score", "--watch")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"^started sweep (\d+) of tune: 4 run\(s\), 2 at a time$", done.stdout, re.M)
    assert found, done.stdout
    sid = found.group(1)
    assert f"sweep {sid} succeeded" in done.stdout
    shown = json.loads(live.cli.ok("sweeps", "show", sid, "-o", "json"))
    assert shown["best"]["swept"] == {"lr": 0.05, "depth": 5}
    assert re.search(rf"best: run {shown['best']['run_id']} \(score -?0", done.stdout)
    lowest = live.cli.ok("sweeps", "show", sid, "--metric", "score", "--min")
    marked = [line for line in lowest.splitlines()[4:] if line.endswith("\tbest")]
    assert len(marked) == 1, lowest  # one run marked, below the header
    row = marked[0]
    assert row.split("\t")[1:3] == ["0.01", "3"], lowest
    listed = live.cli.ok("sweeps", "list", "tune")
    assert f"{sid}\tsucceeded\tgrid\tlr,depth\t4" in listed, listed
    problem = live.cli.fails("sweep", "tune", "--grid", "lr=0.1,oops")
    assert "grid.lr" in problem and "combination 2" in problem, problem
