"""`plait db clean`: a retention pass now, on the server's machine, against its database and
data directory directly (like `plait db upgrade`), reporting what went per kind; with
--dry-run, what would go, changing nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from plait.cli.admin import DataDir, fail, server_database
from plait.cli.common import out


def db_clean(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be removed; change nothing.")
    ] = False,
    older_than_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Instead of PLAIT_RETENTION_DAYS: remove finished runs older than this many "
            "days (a workflow's own retention_days still applies to its runs).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Remove finished runs past their retention now, with their attempts, logs, metrics,
    events, artifacts and files (pinned runs and runs that made model versions are kept)."""
    counts = asyncio.run(_clean(data_dir, dry_run, older_than_days))
    table = Table("kind", "would go" if dry_run else "removed")
    table.columns[1].justify = "right"
    for kind, n in counts.items():
        table.add_row(kind.replace("_", " "), f"{n:,}")
    out.print(table)
    if dry_run:
        out.print("dry run: nothing was removed")


async def _clean(data_dir: Path | None, dry_run: bool, days: int | None) -> dict[str, Any]:
    from plait.orchestration.retention import exclusive_pass, run_pass

    async with server_database(data_dir) as (settings, db):
        if dry_run:
            tally = await run_pass(db, settings, dry_run=True, default_days=days)
        elif (found := await exclusive_pass(db, settings, default_days=days)) is not None:
            tally = found
        else:
            fail("a retention pass is running (a scheduler's): try again once it has ended")
        return tally.counts()
    raise AssertionError("unreachable")  # server_database exits on failure
