"""The server's memory while tasks flood their events file.

Starts `plait server` (SQLite, a temporary data directory), then runs one workflow per flood,
one after the other: 150 MB of junk lines, one 20 MiB output record (past the 64 KiB limit),
and 20,000 valid metric records. Prints the server's resident memory (VmRSS) and its peak
(VmHWM) before and after each, and how the flooding attempt ended. About 30 s.

    .venv/bin/python bench/events_flood.py
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from _server import BenchError, guarded, login, print_footer, print_header, running_server

FLOODS = {
    "junk": (
        "import os\nchunk = (b'j' * 99 + b'\\n') * 10486\n"
        "with open(os.environ['PLAIT_EVENTS'], 'ab') as f:\n"
        "    for _ in range(150):\n        f.write(chunk)\n"
    ),
    "huge": (
        "import json, os\nwith open(os.environ['PLAIT_EVENTS'], 'a') as f:\n"
        "    f.write(json.dumps({'type': 'output', 'key': 'big', 'value': 'x' * (20 << 20)}))\n"
        "    f.write('\\n')\n"
    ),
    "valid": (
        "import json, os\nwith open(os.environ['PLAIT_EVENTS'], 'a') as f:\n"
        "    for i in range(20_000):\n"
        "        f.write(json.dumps({'type': 'metric', 'key': 'loss', 'value': i, 'step': i}))\n"
        "        f.write('\\n')\n"
    ),
}


def memory_mib(pid: int) -> tuple[float, float]:
    """(resident, peak resident) of `pid`, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def flood(http: httpx.Client, name: str, code: str) -> dict[str, Any]:
    doc = {"name": f"flood_{name}", "tasks": [{"key": "t", "kind": "python", "code": code}]}
    if http.post("/api/v1/workflows", json=doc).status_code != 201:
        raise BenchError(f"could not create the {name} workflow")
    run_id = http.post(f"/api/v1/workflows/flood_{name}/runs", json={}).json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run: dict[str, Any] = http.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run
        time.sleep(0.2)
    raise BenchError(f"the {name} run did not finish within 120 s")


def measure() -> int:
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="plait-bench-") as tmp:
        settings = {"PLAIT_DATA_DIR": tmp, "PLAIT_LOAD_DEMO": "false",
                    "PLAIT_LOG_LEVEL": "WARNING", "PLAIT_ADMIN_PASSWORD": password}  # fmt: skip
        with running_server(Path(tmp), settings) as server:
            headers = {"Authorization": f"Bearer {login(server.base, password)}"}
            with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
                rss, peak = memory_mib(server.pid)
                print(f"{'before':<8} rss {rss:6.1f} MiB   peak {peak:6.1f} MiB")
                for name, code in FLOODS.items():
                    began = time.monotonic()
                    run = flood(http, name, code)
                    took = time.monotonic() - began
                    attempt = run["tasks"][0]["attempts"][0]
                    rss, peak = memory_mib(server.pid)
                    error = (attempt["error"] or "")[:60]
                    print(f"{name:<8} rss {rss:6.1f} MiB   peak {peak:6.1f} MiB   "
                          f"{took:5.1f} s   {attempt['status']}: {error}")  # fmt: skip
    return 0


def main() -> int:
    started = print_header("shared by the server, its tasks and this client")
    code = guarded(measure, broken=(httpx.HTTPError,))
    print_footer(started)
    return code


if __name__ == "__main__":
    sys.exit(main())
