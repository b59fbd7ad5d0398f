"""Private Redis and PostgreSQL servers that a test may stop and start again: the shared
ones on this machine are never stopped."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import free_port

START_TIMEOUT = 30.0


@dataclass
class PrivateRedis:
    port: int
    dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.dir)]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _wait(lambda: _answers(["redis-cli", "-p", str(self.port), "ping"]), "redis")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else name


@dataclass
class PrivatePostgres:
    """A cluster of its own (initdb), run as the `postgres` user when we are root (initdb
    refuses root)."""

    port: int
    dir: Path

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(pg_bin("initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U",
                  "postgres", "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-o", options,
                  "-l", str(self.dir / "log"), "-w", "start")  # fmt: skip
        ready = [pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)]
        _wait(lambda: _answers(ready), "postgresql")

    def stop(self) -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # Not in tmp_path: pytest's folders are private to root, and the cluster's user must
    # reach this one.
    folder = Path(tempfile.mkdtemp(prefix="plait-pg-"))
    folder.chmod(0o777)
    server = PrivatePostgres(free_port(), folder)
    server.init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _answers(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def _wait(ready: object, what: str) -> None:
    assert callable(ready)
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        assert time.monotonic() < deadline, f"the private {what} did not start"
        time.sleep(0.05)
