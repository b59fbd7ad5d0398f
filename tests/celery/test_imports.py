"""A worker host installs `plait[worker]`: no database, no web server. The worker's modules
(and the CLI that starts it) must import nothing of the server."""

from __future__ import annotations

import subprocess
import sys

SERVER_ONLY = ("sqlalchemy", "fastapi", "starlette", "uvicorn", "alembic", "asyncpg", "plait.api",
               "plait.db", "plait.orchestration")  # fmt: skip


def test_the_worker_imports_nothing_of_the_server() -> None:
    code = (
        "import sys\n"
        "import plait.worker.app, plait.cli.main\n"
        f"found = sorted(m for m in sys.modules if m.startswith({SERVER_ONLY!r}))\n"
        "assert not found, found\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
