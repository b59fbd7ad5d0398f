"""The `plait` command line against the real server, each in its own process, as a person
would use them: first start, YAML files applied and exported, workflows listed and removed,
migrations run by hand, and a server that is down."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import yaml
from alembic.script import ScriptDirectory

from plait.db import migrate
from tests.cli.conftest import ADMIN_PASSWORD, Cli, Plait, free_port, http_login, serve

pytestmark = pytest.mark.slow

WORKFLOW = """\
name: {name}
description: >-
  Train a model on the rows that `prepare` writes,
  then report how it did.
tags: [nightly, ml]
schedule: "30 2 * * 1-5"
timezone: Europe/Berlin
max_active_runs: 2
params:
  lr:
    type: number
    default: 0.01
    minimum: 0
    maximum: 1
    description: Learning rate.
  epochs: {{type: integer, default: 3}}
  dataset: {{type: string, default: iris, enum: [iris, digits]}}
tasks:
  - key: prepare
    kind: python
    code: |
      import json

      rows = [{{"x": i, "y": 2 * i}} for i in range(10)]
      with open("rows.json", "w") as f:
          json.dump(rows, f)
      print(f"prepared {{len(rows)}} rows")
    env:
      DATA_DIR: /tmp/data
      SEED: "42"
  - key: fit
    kind: shell
    command: {fit_command}
    depends_on: [prepare]
    retries: 2
    timeout: 600
{extra_tasks}"""

EVALUATE = """\
  - key: evaluate
    kind: python
    code: |
      print("accuracy: 0.97")
    depends_on: [fit]
"""


def workflow_yaml(name: str, fit_command: str = "echo fit", extra_tasks: str = "") -> str:
    return WORKFLOW.format(name=name, fit_command=fit_command, extra_tasks=extra_tasks)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def current_version(live: Plait, name: str) -> int:
    response = live.http.get(f"/api/v1/workflows/{name}")
    assert response.status_code == 200, response.text
    version: int = response.json()["current_version"]
    return version


def generated_password(stderr: str) -> str:
    found = re.findall(r"^\s*password: (\S+)\s*$", stderr, flags=re.MULTILINE)
    assert len(found) == 1, f"expected the admin password printed once:\n{stderr}"
    password: str = found[0]
    return password


# 1. First start ------------------------------------------------------------------------------


def test_first_start_prints_a_generated_admin_password_once(tmp_path: Path) -> None:
    data, logs = tmp_path / "data", tmp_path / "logs"
    with serve(data, logs) as first:
        password = generated_password(first.stderr())
        cli = Cli(first.url, tmp_path / "cli.json")
        assert f"logged in to {first.url} as admin (admin)" in cli.login(password)
        assert "iris-pipeline" in cli.ok("workflows", "list")
        assert http_login(first.url, password + "x").status_code == 401
    assert first.output().count(password) == 1, "the password must appear in no log line"
    assert password not in cli.config.read_text()
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600

    with serve(data, logs) as again:
        assert http_login(again.url, password).status_code == 200
    assert "first admin" not in again.output() and "password:" not in again.output()
    assert password not in again.output()


def test_admin_password_from_the_environment_is_never_printed(live: Plait) -> None:
    assert http_login(live.server.url, ADMIN_PASSWORD).status_code == 200
    assert live.http.get("/api/v1/workflows/iris-pipeline").status_code == 200
    output = live.server.output()
    assert "first admin" not in output and "password:" not in output
    assert ADMIN_PASSWORD not in output


# 2. YAML round trip ----------------------------------------------------------------------------


def test_apply_edit_export_and_apply_again(any_live: Plait, tmp_path: Path) -> None:
    cli, name = any_live.cli, f"train-{any_live.name}"
    wf = write(tmp_path / "wf.yaml", workflow_yaml(name))
    created = cli.ok("apply", "-f", str(wf))
    assert f"created workflow {name}" in created and "at version 1" in created
    assert "unchanged at version 1" in cli.ok("apply", "-f", str(wf))

    write(wf, workflow_yaml(name, fit_command="python -c 'print(1)'", extra_tasks=EVALUATE))
    updated = cli.ok("apply", "-f", str(wf))
    assert "+ task evaluate" in updated and "~ task fit: command" in updated
    assert "prepare" not in updated, "an untouched task is not in the diff"
    assert "version 1 -> 2" in updated

    exported = tmp_path / "out.yaml"
    cli.ok("export", name, "-o", str(exported))
    assert cli.ok("export", name) == exported.read_text()
    assert "unchanged at version 2" in cli.ok("apply", "-f", str(exported))
    assert current_version(any_live, name) == 2


def test_export_keeps_the_definition_readable(live: Plait, tmp_path: Path) -> None:
    name = "readable"
    original = yaml.safe_load(workflow_yaml(name))
    live.cli.ok("apply", "-f", str(write(tmp_path / "wf.yaml", workflow_yaml(name))))
    text = live.cli.ok("export", name)
    assert "  code: |\n    import json\n\n    rows = " in text, "code stays a literal block"
    exported = yaml.safe_load(text)
    assert exported["tasks"][0]["code"] == original["tasks"][0]["code"]
    assert exported["tasks"][0]["env"] == {"DATA_DIR": "/tmp/data", "SEED": "42"}
    assert exported["params"]["dataset"] == {"default": "iris", "enum": ["iris", "digits"]}
    assert exported["schedule"] == "30 2 * * 1-5" and exported["timezone"] == "Europe/Berlin"
    assert exported["tags"] == ["ml", "nightly"]


CYCLE = """\
name: cyclic
tasks:
  - {key: a, kind: shell, command: echo a, depends_on: [b]}
  - {key: b, kind: shell, command: echo b, depends_on: [a]}
"""


def test_apply_shows_where_a_workflow_is_wrong(live: Plait, tmp_path: Path) -> None:
    path = write(tmp_path / "cycle.yaml", CYCLE)
    problem = live.cli.fails("apply", "-f", str(path))
    assert re.search(rf"{path}:[34]: tasks\.[ab]\.depends_on: dependency cycle: ", problem), problem
    assert live.http.get("/api/v1/workflows/cyclic").status_code == 404


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name: [unclosed\n", ":2:1: expected ',' or ']', but got '<stream end>'"),
        (b"- a list\n- not a mapping\n", ": a workflow file is a YAML mapping"),
        (b"", ": a workflow file is a YAML mapping"),
        (b"name: \xff\xfe\n", " is not a workflow document: 'utf-8' codec can't decode"),
    ],
    ids=["not-yaml", "list", "empty", "not-utf8"],
)
def test_apply_refuses_a_file_that_is_not_a_workflow(
    live: Plait, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    problem = live.cli.fails("apply", "-f", str(path))
    assert f"error: {path}{message}" in problem, problem


def test_apply_refuses_a_directory(live: Plait, tmp_path: Path) -> None:
    assert "Invalid value for '-f' / '--file'" in live.cli.fails("apply", "-f", str(tmp_path))


# 3. List, show, clone, delete ------------------------------------------------------------------


def test_list_show_clone_and_delete(live: Plait, tmp_path: Path) -> None:
    cli, name, copy = live.cli, "listed-workflow", "listed-workflow-copy"
    cli.ok("apply", "-f", str(write(tmp_path / "wf.yaml", workflow_yaml(name))))
    listing = cli.ok("workflows", "list", "--tag", "nightly")
    assert name in listing and "iris-pipeline" not in listing

    shown = cli.ok("workflows", "show", name)
    assert f"{name} (id " in shown and "version 1, owner admin, active" in shown
    assert "next run: " in shown
    document = yaml.safe_load(shown[shown.index(f"name: {name}\n") :])
    assert [t["key"] for t in document["tasks"]] == ["prepare", "fit"]

    assert f"cloned {name} into {copy}" in cli.ok("workflows", "clone", name, copy)
    assert "paused" in cli.ok("workflows", "show", copy).splitlines()[0]
    assert copy in cli.ok("workflows", "list")

    assert "Aborted" in cli.fails("workflows", "delete", copy, input="n\n")
    assert f"deleted {copy}" in cli.ok("workflows", "delete", copy, "--yes")
    assert f"no workflow '{copy}'" in cli.fails("workflows", "show", copy)
    assert current_version(live, name) == 1, "the original stays"


def test_names_cannot_reach_outside_workflows(live: Plait) -> None:
    # Unquoted, `../users` would have been GET /api/v1/users.
    assert "Not Found" in live.cli.fails("workflows", "show", "../users")


def test_commands_without_login_say_how_to_log_in(live: Plait, tmp_path: Path) -> None:
    anonymous = Cli(live.server.url, tmp_path / "nobody.json")
    assert "run `plait login`" in anonymous.fails("workflows", "list")


# 4. Migrations by hand -------------------------------------------------------------------------


def test_db_commands_print_the_revisions(tmp_path: Path) -> None:
    cli, data = Cli("http://127.0.0.1:9", tmp_path / "cli.json"), str(tmp_path / "data")
    head = migrate.head()
    first = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_base()
    assert first is not None
    assert cli.ok("db", "current", "--data-dir", data).strip() == "empty (no migrations applied)"
    assert cli.ok("db", "upgrade", "--data-dir", data).strip() == f"database at revision {head}"
    assert cli.ok("db", "current", "--data-dir", data).strip() == head
    downgraded = cli.ok("db", "downgrade", "base", "--data-dir", data).strip()
    assert downgraded == "database empty (no migrations applied)"
    assert cli.ok("db", "upgrade", first, "--data-dir", data).strip().endswith(f" {first}")
    assert cli.ok("db", "upgrade", "--data-dir", data).strip().endswith(f" {head}")


# 5. Server down --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("workflows", "list"),
        ("login", "--username", "admin", "--password-stdin"),
        ("export", "iris-pipeline"),
    ],
    ids=["list", "login", "export"],
)
def test_a_server_that_is_down_is_reported_plainly(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    problem = Cli(url, tmp_path / "cli.json").fails(*args, input="secret\n")
    assert f"error: cannot reach the Plait server at {url}" in problem, problem
    assert len(problem.strip().splitlines()) == 1, "one whole line, not cut at 80 columns"
