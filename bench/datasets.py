"""Benchmark dataset uploads and the host cache, on the real server (`plait server`, SQLite,
local executor, task sandbox as configured).

1. Upload a `--mib` MiB file as a multipart body (streamed from disk by httpx, with its
   sha256 for the server to check): wall time, MiB/s, and the server's peak resident memory
   (VmHWM) before and after, which shows the file never sits in the server's memory.
2. A workflow whose task calls `plait.dataset()` on it, run twice: the first run fetches the
   version into the host cache, the second finds it there. Wall time of each run.

    .venv/bin/python bench/datasets.py [--mib 512]

Exits 1 when an upload or a run fails, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _server import BenchError, guarded, login, print_footer, print_header, running_server

CHUNK = 1024 * 1024
READ = "import plait\nprint(plait.dataset('bench').stat().st_size)\n"


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchError("no VmHWM in /proc/<pid>/status")


def make_file(path: Path, mib: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(mib):
            chunk = os.urandom(CHUNK)
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def run_once(http: httpx.Client) -> float:
    start = time.monotonic()
    run = http.post("/api/v1/workflows/reads-bench/runs", json={}).json()
    while (status := http.get(f"/api/v1/runs/{run['id']}").json()["status"]) not in (
        "succeeded", "failed", "cancelled"):  # fmt: skip
        time.sleep(0.05)
    if status != "succeeded":
        raise RuntimeError(f"run {run['id']} {status}")
    return time.monotonic() - start


def bench(mib: int) -> None:
    started = print_header(f"upload of {mib} MiB, SQLite, local executor")
    with tempfile.TemporaryDirectory(prefix="plait-bench-ds-") as tmp:
        data = Path(tmp)
        password = secrets.token_urlsafe(12)
        settings = {"PLAIT_DATA_DIR": str(data / "data"), "PLAIT_ADMIN_PASSWORD": password,
                    "PLAIT_LOAD_DEMO": "false", "PLAIT_HEARTBEAT_SECONDS": "0.2",
                    "PLAIT_TICK_SECONDS": "0.2"}  # fmt: skip
        source = data / "bench.bin"
        checksum = make_file(source, mib)
        with running_server(data, settings) as server:
            token = login(server.base, password)
            http = httpx.Client(base_url=server.base, timeout=600,
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            http.post(
                "/api/v1/datasets", json={"name": "bench", "kind": "other"}
            ).raise_for_status()
            before = peak_rss_mib(server.pid)
            t0 = time.monotonic()
            with source.open("rb") as f:
                answer = http.post("/api/v1/datasets/bench/versions", data={"checksum": checksum},
                                   files={"file": ("bench.bin", f)})  # fmt: skip
            took = time.monotonic() - t0
            if answer.status_code != 201:
                raise RuntimeError(f"upload: {answer.status_code} {answer.text[:300]}")
            after = peak_rss_mib(server.pid)
            print(f"\nupload: {mib} MiB in {took:.2f} s = {mib / took:.0f} MiB/s, sha256 checked")
            print(f"server peak RSS: {before:.0f} MiB before, {after:.0f} MiB after")
            task = {"key": "read", "kind": "python", "code": READ}
            http.post("/api/v1/workflows", json={"name": "reads-bench", "tasks": [task]})
            first, second = run_once(http), run_once(http)
            print(f"run reading it: {first:.2f} s (fetched into the host cache), "
                  f"{second:.2f} s (a cache hit)")  # fmt: skip
    print_footer(started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=512, help="size of the file (MiB)")
    args = parser.parse_args(argv)
    outcome = guarded(lambda: bench(args.mib), failed=(RuntimeError,))
    return outcome if isinstance(outcome, int) else 0


if __name__ == "__main__":
    sys.exit(main())
