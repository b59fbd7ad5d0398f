"""Several server processes on one host (PROMETHEUS_MULTIPROC_DIR): one scrape sums them all;
a process that ended keeps its counts but leaves the live gauges; a fresh start of them all
begins from empty files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.scrape import Samples, parse, value

ROOT = Path(__file__).resolve().parents[2]
HEALTHZ = {"method": "GET", "route": "/healthz", "status": "200"}


class Server:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def ready(self) -> Server:
        assert self._line() == "ready"
        return self

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the server process ended (exit {self.process.poll()})"
        return line.strip()

    def _say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def get(self, times: int) -> None:
        self._say(f"get {times}")
        assert self._line() == "done"

    def scrape(self) -> Samples:
        self._say("scrape")
        return parse(json.loads(self._line()))

    def exit(self) -> None:
        self._say("exit")
        assert self.process.wait(30) == 0


@contextmanager
def server(data_dir: Path, shared: Path) -> Iterator[Server]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-m", "tests.support.metrics_process", str(data_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    ) as process:  # fmt: skip
        try:
            yield Server(process)
        finally:
            if process.poll() is None:
                process.kill()


@pytest.mark.timeout(180)  # three processes start (each imports the whole server)
def test_one_scrape_sums_every_process_and_a_fresh_start_begins_empty(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    # Each its own database (started side by side, they would both migrate one SQLite file).
    with server(tmp_path / "a", shared) as first, server(tmp_path / "b", shared) as second:
        first.ready().get(3)
        second.ready().get(4)
        both = second.scrape()
        assert value(both, "plait_http_requests_total", **HEALTHZ) == 7
        # Live gauges: each process's SQLite writer pool keeps one connection.
        assert value(both, "plait_db_pool_size", engine="writer") == 2
        second.exit()
        one_left = first.scrape()
        assert value(one_left, "plait_http_requests_total", **HEALTHZ) == 7  # counts stay
        assert value(one_left, "plait_db_pool_size", engine="writer") == 1  # gauges go
        first.exit()
    assert list(shared.glob("*.db")), "the processes wrote no files"
    with server(tmp_path / "a", shared) as fresh:  # nobody else alive: the last files go
        assert value(fresh.ready().scrape(), "plait_http_requests_total", **HEALTHZ) == 0
        fresh.exit()
