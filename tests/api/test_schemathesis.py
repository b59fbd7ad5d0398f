"""schemathesis over the whole OpenAPI document, against the real `plait server` process:
every operation, every check, a bounded number of examples, on SQLite and PostgreSQL.

The scheduler is off: the API is under test, and generated workflows must not run generated
shell commands. Notifications time out after a second (generated channels point nowhere).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cli.conftest import Plait, running_plait
from tests.conftest import new_pg_database

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = 10  # per operation and phase: about two minutes per database on 2 cores
SERVER_ENV = {
    "PLAIT_SCHEDULER": "false",
    "PLAIT_LOAD_DEMO": "false",
    "PLAIT_NOTIFY_TIMEOUT_SECONDS": "1",
}


def schemathesis_command() -> list[str]:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "schemathesis.cli"]


@contextmanager
def server(database: str, tmp: Path) -> Iterator[Plait]:
    if database == "sqlite":
        with running_plait("sqlite", tmp, **SERVER_ENV) as plait:
            yield plait
        return
    with (
        new_pg_database("plait_st") as url,
        running_plait("postgresql", tmp, PLAIT_DATABASE_URL=url, **SERVER_ENV) as plait,
    ):
        yield plait


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "database",
    [
        pytest.param("sqlite"),
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ],
)
def test_every_operation_conforms_to_the_openapi_document(database: str, tmp_path: Path) -> None:
    with server(database, tmp_path) as plait:
        # One worker: with two threads, Hypothesis's concurrent ast.parse can trip CPython
        # 3.11's "AST constructor recursion depth mismatch" (a SystemError, not our bug).
        command = [
            *schemathesis_command(), "--config-file", str(CONFIG), "run",
            f"{plait.server.url}/openapi.json",
            "--header", f"Authorization: {plait.http.headers['Authorization']}",
            "--checks", "all", "--max-examples", str(EXAMPLES), "--workers", "1",
            "--seed", "9", "--generation-database", "none", "--no-color",
            "--request-timeout", "30",
        ]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=800, check=False, cwd=tmp_path
        )
        report = done.stdout[-30_000:] + done.stderr[-5_000:]
        assert done.returncode == 0, report
        assert "Traceback" not in plait.server.output()
