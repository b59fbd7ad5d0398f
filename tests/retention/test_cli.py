"""`plait db clean` on the server's database and data directory: --dry-run reports and
changes nothing; a pass (here with --older-than-days) removes and reports per kind."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from plait.db import migrate
from plait.db.engine import Database
from plait.db.models import Workflow
from tests.cli.conftest import CLI_TIMEOUT, clean_env, plait_command
from tests.support.retention import add_run, fixtures, folders, run_ids


def clean(data: Path, url: str, *args: str) -> dict[str, int]:
    done = subprocess.run(
        [*plait_command(), "db", "clean", "--data-dir", str(data), *args],
        capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False,
        env=clean_env(PLAIT_DATABASE_URL=url, COLUMNS="120"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"│ ([a-z ]+?) +│ +([\d,]+) +│", done.stdout)
    return {kind: int(n.replace(",", "")) for kind, n in rows}


async def _world(url: str, data: Path) -> tuple[int, int]:
    db = Database(url)
    try:
        await migrate.upgrade(db)
        async with db.write() as session:
            wf = Workflow(name="w", spec={"name": "w", "tasks": []}, tags=[])
            session.add(wf)
            await session.flush()
            workflow_id = wf.id
        fx = await fixtures(db, workflow_id)
        now = datetime.now(UTC)
        old = await add_run(db, data, fx, workflow_id, age_days=40, now=now)
        new = await add_run(db, data, fx, workflow_id, age_days=3, now=now)
        return old, new
    finally:
        await db.dispose()


async def _ids(url: str) -> set[int]:
    db = Database(url)
    try:
        return await run_ids(db)
    finally:
        await db.dispose()


def test_db_clean_reports_then_removes(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    old, new = asyncio.run(_world(database_url, data))

    dry = clean(data, database_url, "--dry-run")

    assert dry["runs"] == 1 and dry["attempts"] == 2 and dry["metrics"] == 1
    assert dry["files"] == 4 and dry["bytes"] == 2 * (100 + 50)
    assert asyncio.run(_ids(database_url)) == {old, new}
    assert len(folders(data, old)) == 2

    # --older-than-days 2 takes the 3-day-old run too
    wider = clean(data, database_url, "--older-than-days", "2")

    assert wider == {**dry, "runs": 2, "attempts": 4, "log chunks": 2, "metrics": 2,
                     "artifacts": 2, "events": 2, "lineage": 2, "tracking exports": 2,
                     "deliveries": 2, "hook deliveries": 2, "files": 8, "bytes": 600}  # fmt: skip
    assert asyncio.run(_ids(database_url)) == set()
    assert folders(data, old) == [] and folders(data, new) == []
