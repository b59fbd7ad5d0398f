"""The real `plait server` and the real `plait` CLI, each in its own process.

`serve()` starts a server on a free port and always stops it; `Cli` runs the command line with
its own config file, so no test ever reads or writes ~/.config.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATABASES, new_pg_database

ADMIN_PASSWORD = "cli-admin-password-1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CLI_TIMEOUT = 30.0
# Environment that would make the output differ from what a person sees in a plain pipe.
_DROPPED = ("FORCE_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def plait_command() -> list[str]:
    """The installed `plait` next to this interpreter, or `python -m plait`."""
    found = shutil.which("plait", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "plait"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any PLAIT_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAIT_") and k not in _DROPPED}
    return {**env, "NO_COLOR": "1", **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    stdout_path: Path
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        """Everything the server wrote, stdout and stderr."""
        return self.stdout_path.read_text(encoding="utf-8", errors="replace") + self.stderr()


def _wait_ready(process: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server not ready after {START_TIMEOUT}s:\n{server.output()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(data_dir: Path, log_dir: Path, **env: str) -> AbstractContextManager[Server]:
    """`plait server` on a free port with `data_dir`; stopped (SIGTERM, then kill) on exit."""
    return serve_with(data_dir, log_dir, (), False, env)


@contextmanager
def serve_with(
    data_dir: Path, log_dir: Path, options: tuple[str, ...], port_by_env: bool, env: dict[str, str]
) -> Iterator[Server]:
    """`serve` with more `options`; `port_by_env`: the port is given as PLAIT_PORT."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    server = Server(
        f"http://127.0.0.1:{port}", log_dir / f"server-{port}.out", log_dir / f"server-{port}.err"
    )
    if port_by_env:
        env = {**env, "PLAIT_PORT": str(port)}
    else:
        options = ("--port", str(port), *options)
    command = [*plait_command(), "server", "--data-dir", str(data_dir), *options]
    with server.stdout_path.open("wb") as out, server.stderr_path.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=clean_env(**env))
        try:
            _wait_ready(process, server)
            yield server
        finally:
            _stop(process)


@dataclass
class Cli:
    """The `plait` command line aimed at `url`, keeping its login in `config`."""

    url: str
    config: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = clean_env(PLAIT_CLI_CONFIG=str(self.config), PLAIT_URL=self.url, **self.extra_env)
        return subprocess.run(
            [*plait_command(), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=env,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def ok(self, *args: str, input: str | None = None) -> str:
        """Stdout of a command that must succeed."""
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"plait {' '.join(args)}: {done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout

    def fails(self, *args: str, input: str | None = None) -> str:
        """Stderr of a command that must fail, as a person would: non-zero, no traceback."""
        done = self.run(*args, input=input)
        assert done.returncode != 0, f"plait {' '.join(args)} succeeded: {done.stdout}"
        assert "Traceback" not in done.stdout + done.stderr
        return done.stderr

    def login(self, password: str, username: str = "admin") -> str:
        return self.ok(
            "login", "--url", self.url, "--username", username, "--password-stdin",
            input=password + "\n",
        )  # fmt: skip


def http_login(url: str, password: str, username: str = "admin") -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/auth/login", json={"username": username, "password": password}, timeout=10
    )


@dataclass
class Plait:
    """A running server, a CLI logged in to it as admin, and an admin HTTP client."""

    name: str
    server: Server
    cli: Cli
    http: httpx.Client


@contextmanager
def running_plait(name: str, tmp: Path, **env: str) -> Iterator[Plait]:
    env = {"PLAIT_ADMIN_PASSWORD": ADMIN_PASSWORD, **env}
    with serve(tmp / "data", tmp / "logs", **env) as server:
        cli = Cli(server.url, tmp / "cli.json")
        cli.login(ADMIN_PASSWORD)
        token = http_login(server.url, ADMIN_PASSWORD).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
            yield Plait(name, server, cli, http)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plait]:
    """One SQLite server for the module, started with PLAIT_ADMIN_PASSWORD."""
    with running_plait("sqlite", tmp_path_factory.mktemp("plait-sqlite")) as running:
        yield running


@pytest.fixture(scope="module")
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (the server migrates it), dropped afterwards."""
    with new_pg_database("plait_cli") as url:
        yield url


@pytest.fixture(scope="module")
def live_pg(tmp_path_factory: pytest.TempPathFactory, fresh_pg_database: str) -> Iterator[Plait]:
    tmp = tmp_path_factory.mktemp("plait-pg")
    with running_plait("postgresql", tmp, PLAIT_DATABASE_URL=fresh_pg_database) as running:
        yield running


@pytest.fixture(scope="module", params=[d for d in DATABASES if d in ("sqlite", "postgresql")])
def any_live(request: pytest.FixtureRequest) -> Plait:
    """The module's server on each backend: SQLite and PostgreSQL."""
    fixture = "live" if request.param == "sqlite" else "live_pg"
    running: Plait = request.getfixturevalue(fixture)
    return running
