"""The first start on a taken port, and the way back in when a password is lost."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import (
    ADMIN_PASSWORD,
    CLI_TIMEOUT,
    Plait,
    clean_env,
    http_login,
    plait_command,
    running_plait,
)
from tests.conftest import DATABASES, new_pg_database

pytestmark = pytest.mark.slow


def plait(*args: str, input: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*plait_command(), *args], input=input, capture_output=True, text=True,
        env=clean_env(**env), timeout=CLI_TIMEOUT, check=False,
    )  # fmt: skip


def test_a_taken_port_on_first_start_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = plait("server", "--port", port, "--data-dir", str(data))

    assert done.returncode == 3, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "password" not in done.stdout + done.stderr  # no admin shown for nothing
    assert not data.exists()  # no database, no key, no admin: the next start is a first start


@dataclass
class Live:
    """A running server, and the settings `plait admin` needs to reach its database."""

    plait: Plait
    settings: dict[str, str]

    def admin(self, *args: str, input: str = "") -> subprocess.CompletedProcess[str]:
        return plait("admin", *args, input=input, **self.settings)


@pytest.fixture(scope="module", params=[d for d in DATABASES if d in ("sqlite", "postgresql")])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("plait-admin")
    with ExitStack() as stack:
        env = {"PLAIT_DATA_DIR": str(tmp / "data")}
        if request.param == "postgresql":
            env["PLAIT_DATABASE_URL"] = stack.enter_context(new_pg_database("plait_admin"))
        server_env = {k: v for k, v in env.items() if k != "PLAIT_DATA_DIR"}
        yield Live(stack.enter_context(running_plait("admin-cli", tmp, **server_env)), env)


def test_reset_password_prints_a_new_one_once_and_ends_the_old_logins(live: Live) -> None:
    server = live.plait
    body = {"username": "rita", "password": "rita-password-1", "role": "editor"}
    server.http.post("/api/v1/users", json=body).raise_for_status()
    old_login = http_login(server.server.url, "rita-password-1", "rita").json()

    done = live.admin("reset-password", "rita")

    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.splitlines() if line.startswith("new password: ")]
    assert len(printed) == 1
    new_password = printed[0].removeprefix("new password: ").split()[0]
    assert http_login(server.server.url, "rita-password-1", "rita").status_code == 401
    assert http_login(server.server.url, new_password, "rita").status_code == 200
    refreshed = httpx.post(
        f"{server.server.url}/api/v1/auth/refresh",
        json={"refresh_token": old_login["refresh_token"]},
    )
    assert refreshed.status_code == 401  # the login from before the reset is over
    audit = server.http.get("/api/v1/audit", params={"action": "user.password_reset"}).json()
    assert [(e["actor"], e["target_id"]) for e in audit["items"]] == [
        ("system", str(old_login["user"]["id"]))
    ]


def test_reset_password_takes_one_from_stdin(live: Live) -> None:
    done = live.admin("reset-password", "admin", "--password-stdin", input="a-chosen-password-2\n")
    assert done.returncode == 0, done.stderr
    assert "a-chosen-password-2" not in done.stdout and "new password" not in done.stdout
    assert http_login(live.plait.server.url, "a-chosen-password-2").status_code == 200
    assert http_login(live.plait.server.url, ADMIN_PASSWORD).status_code == 401


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("nobody",), "", "no user named 'nobody'"),
        (("admin", "--password-stdin"), "short\n", "at least 8 characters"),
    ],
)
def test_reset_password_refuses_with_a_reason(
    live: Live, args: tuple[str, ...], stdin: str, says: str
) -> None:
    done = live.admin("reset-password", *args, input=stdin)
    assert done.returncode == 1
    assert says in done.stderr


def test_reset_password_without_a_database_creates_none(tmp_path: Path) -> None:
    done = plait("admin", "reset-password", "admin", "--data-dir", str(tmp_path / "none"))
    assert done.returncode == 1
    assert "no Plait database" in done.stderr
    assert not (tmp_path / "none").exists()
