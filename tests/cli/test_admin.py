"""The first start on a taken port, and the way back in when a password is lost."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plait]:
    with running_plait("admin-cli", tmp_path_factory.mktemp("plait-admin")) as running:
        yield running


def data_dir(live: Plait) -> str:
    return str(Path(live.cli.config).parent / "data")


def test_reset_password_prints_a_new_one_once_and_ends_the_old_logins(live: Plait) -> None:
    body = {"username": "rita", "password": "rita-password-1", "role": "editor"}
    live.http.post("/api/v1/users", json=body).raise_for_status()
    old_login = http_login(live.server.url, "rita-password-1", "rita").json()

    done = plait("admin", "reset-password", "rita", "--data-dir", data_dir(live))

    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.splitlines() if line.startswith("new password: ")]
    assert len(printed) == 1
    new_password = printed[0].removeprefix("new password: ").split()[0]
    assert http_login(live.server.url, "rita-password-1", "rita").status_code == 401
    assert http_login(live.server.url, new_password, "rita").status_code == 200
    refreshed = httpx.post(
        f"{live.server.url}/api/v1/auth/refresh", json={"refresh_token": old_login["refresh_token"]}
    )
    assert refreshed.status_code == 401  # the login from before the reset is over
    audit = live.http.get("/api/v1/audit", params={"action": "user.password_reset"}).json()
    assert [(e["actor"], e["target_id"]) for e in audit["items"]] == [
        ("system", str(old_login["user"]["id"]))
    ]


def test_reset_password_takes_one_from_stdin(live: Plait) -> None:
    done = plait(
        "admin", "reset-password", "admin", "--password-stdin", "--data-dir", data_dir(live),
        input="a-chosen-password-2\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "a-chosen-password-2" not in done.stdout and "new password" not in done.stdout
    assert http_login(live.server.url, "a-chosen-password-2").status_code == 200
    assert http_login(live.server.url, ADMIN_PASSWORD).status_code == 401


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("nobody",), "", "no user named 'nobody'"),
        (("admin", "--password-stdin"), "short\n", "at least 8 characters"),
    ],
)
def test_reset_password_refuses_with_a_reason(
    live: Plait, args: tuple[str, ...], stdin: str, says: str
) -> None:
    done = plait("admin", "reset-password", *args, "--data-dir", data_dir(live), input=stdin)
    assert done.returncode == 1
    assert says in done.stderr


def test_reset_password_without_a_database_creates_none(tmp_path: Path) -> None:
    done = plait("admin", "reset-password", "admin", "--data-dir", str(tmp_path / "none"))
    assert done.returncode == 1
    assert "no Plait database" in done.stderr
    assert not (tmp_path / "none").exists()
