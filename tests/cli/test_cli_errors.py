"""The command line's errors say where and what to do: a YAML file's problems at their line
(duplicate keys refused), "did you mean", the log of a task that never ran, and a task's
traceback with its failing line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Plait

pytestmark = pytest.mark.slow

TWICE = """\
name: twice
tasks:
  - key: train
    kind: python
    code: print("first")
    code: print("second")
"""

TYPOS = """\
name: typos
schedule: "{schedule}"
tasks:
  - key: train
    kind: python
    code: print("train")
  - key: evaluate
    kind: python
    code: print("evaluate")
    depends_on: [{dependency}]
    {retries}: 2
"""

FAILING = """\
name: failing
tasks:
  - key: prepare
    kind: python
    code: |
      print("preparing")
      raise ValueError("the data is bad")
  - key: train
    kind: shell
    command: echo training
    depends_on: [prepare]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_key_given_twice_is_refused_at_its_line(live: Plait, tmp_path: Path) -> None:
    path = write(tmp_path, "twice.yaml", TWICE)
    problem = live.cli.fails("apply", "-f", str(path))
    assert f"error: {path}:6:5: duplicate key 'code' (first at line 5)\n" in problem
    assert live.http.get("/api/v1/workflows/twice").status_code == 404


def test_the_servers_problems_show_at_their_line_of_the_file(live: Plait, tmp_path: Path) -> None:
    typos = {"schedule": "0 25 * * *", "dependency": "trian", "retries": "retry"}
    path = write(tmp_path, "typos.yaml", TYPOS.format(**typos))
    problem = live.cli.fails("apply", "-f", str(path))
    assert "error: 1 problem in the input\n" in problem
    assert f"  {path}:11: tasks.evaluate.retry: unknown field 'retry'; did you mean " in problem

    path.write_text(TYPOS.format(**{**typos, "retries": "retries"}), encoding="utf-8")
    problem = live.cli.fails("apply", "-f", str(path))
    assert "error: 2 problems in the input\n" in problem
    assert f"  {path}:2: schedule: hour field '25' is out of range 0-23\n" in problem
    assert (
        f"  {path}:10: tasks.evaluate.depends_on: unknown task 'trian'; did you mean 'train'?\n"
    ) in problem

    path.write_text(TYPOS.format(schedule="0 6 * * *", dependency="train", retries="retries"))
    assert "created workflow typos" in live.cli.ok("apply", "-f", str(path))
    path.write_text(TYPOS.format(schedule="0 6 * * 8", dependency="train", retries="retries"))
    problem = live.cli.fails("apply", "-f", str(path))  # an update (PUT) too
    assert (
        f"  {path}:2: schedule: day-of-week field '8' is out of range 0-7 (0 and 7 are Sunday)\n"
    ) in problem


def test_logs_say_a_task_never_ran_and_tracebacks_show_the_line(
    live: Plait, tmp_path: Path
) -> None:
    live.cli.ok("apply", "-f", str(write(tmp_path, "failing.yaml", FAILING)))
    done = live.cli.run("run", "failing", "--watch")
    assert done.returncode == 1, done.stdout + done.stderr
    rid = int(done.stdout.split("started run ", 1)[1].split()[0])

    problem = live.cli.fails("runs", "logs", str(rid), "train")
    assert (
        f"error: task 'train' never ran in run {rid}: it was skipped because 'prepare' failed\n"
    ) in problem
    log = live.cli.ok("runs", "logs", str(rid), "prepare")
    assert log.startswith("preparing\nTraceback (most recent call last):\n")
    assert '  File "task prepare", line 2, in <module>\n' in log
    assert '    raise ValueError("the data is bad")\nValueError: the data is bad\n' in log


PARAMS = """\
name: {name}
params:
  n_estimators: {{type: integer, default: 10}}
tasks:
  - key: {key}
    kind: shell
    command: echo fit
"""


def test_names_and_params_are_explained(live: Plait, tmp_path: Path) -> None:
    path = write(tmp_path, "params.yaml", PARAMS.format(name="forest", key="2nd"))
    problem = live.cli.fails("apply", "-f", str(path))
    assert (
        f"  {path}:5: tasks[0].key: '2nd' is not allowed: use letters, digits, - and _, "
        "starting with a letter, at most 100 characters\n"
    ) in problem

    path.write_text(PARAMS.format(name="forest", key="fit"), encoding="utf-8")
    live.cli.ok("apply", "-f", str(path))
    problem = live.cli.fails("run", "forest", "-p", "n_estimator=5")
    assert "  params.n_estimator: unknown parameter; did you mean 'n_estimators'?\n" in problem
