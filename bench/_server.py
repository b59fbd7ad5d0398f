"""What the benchmarks share: the real `plait server` in a subprocess, started and stopped.

The server gets a clean environment (the caller's PLAIT_* dropped, so a PLAIT_DATABASE_URL
in the shell cannot redirect a benchmark) plus the settings a benchmark passes, runs on a
free port, and is always stopped.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

READY_SECONDS = 60


T = TypeVar("T")


def print_header(machine: str) -> float:
    """What the figures depend on: the command, the machine, its load; returns the start."""
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"machine: {os.cpu_count()} CPUs, {machine}")
    # Taken before the script loads the machine itself: other work (a test suite) on 2 CPUs
    # lowers every figure, and this is the only trace of it in the output.
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}", flush=True)
    return time.monotonic()


def print_footer(started: float) -> None:
    print(
        f"\nwhole script: {time.monotonic() - started:.0f} s; "
        f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}"
    )


def guarded(
    work: Callable[[], T],
    failed: tuple[type[Exception], ...] = (),
    broken: tuple[type[Exception], ...] = (),
) -> T | int:
    """`work()`, or the exit code when it stops early, having said why: 1 a measured run
    failed (`failed`), 2 the benchmark could not measure (`BenchError`, `broken`), 130
    interrupted. The server and temporary data are cleaned up by `work`'s own context."""
    unable: tuple[type[Exception], ...] = (BenchError, *broken)
    try:
        return work()
    except failed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    except unable as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted (server stopped, temporary data removed)", file=sys.stderr)
        return 130


class BenchError(Exception):
    """Setup went wrong: the figures would mean nothing, so the script stops."""


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:<port>
    pid: int  # of the uvicorn process, e.g. for py-spy
    log_path: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any PLAIT_*, plus `settings` (PLAIT_* names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAIT_")}
    env.update(settings)
    return env


@contextmanager
def running_server(data_dir: Path, settings: Mapping[str, str]) -> Iterator[Server]:
    """`plait server` on a free port with `settings`; its output goes to data_dir/server.log."""
    plait = Path(sys.executable).with_name("plait")
    if not plait.exists():
        raise BenchError(f"{plait} not found: run with the project's venv python")
    port = free_port()
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(plait), "server", "--port", str(port)],
            env=server_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            server = Server(f"http://127.0.0.1:{port}", proc.pid, log_path)
            wait_ready(server, proc)
            yield server
        finally:
            stop(proc)


def wait_ready(server: Server, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode}:\n{tail(server.log_path)}")
        try:
            if httpx.get(f"{server.base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    raise BenchError(f"server not ready within {READY_SECONDS} s:\n{tail(server.log_path)}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # uvicorn shuts down cleanly on SIGTERM, disposing its pools
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def login(base: str, password: str, username: str = "admin") -> str:
    """An access token for `username`."""
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": username, "password": password}, timeout=30
    )
    if response.status_code != 200:
        raise BenchError(f"login failed: {response.status_code} {response.text[:300]}")
    token: str = response.json()["access_token"]
    return token
