"""`plait db clean`: a retention pass now, on the server's machine, against its database and
data directory directly (like `plait db upgrade`), reporting what went per kind; with
--dry-run, what would go, changing nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from plait.cli.common import err, out

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", envvar="PLAIT_DATA_DIR", help="Default ~/.plait.")
]


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
    from plait.db import migrate
    from plait.db.engine import Database
    from plait.orchestration.retention import exclusive_pass, run_pass
    from plait.settings import Settings

    if data_dir is not None:
        os.environ["PLAIT_DATA_DIR"] = str(data_dir)
    settings = Settings()
    if settings.database_url is None and not (settings.data_dir / "plait.db").exists():
        _fail(f"no Plait database in {settings.data_dir} (see --data-dir, PLAIT_DATABASE_URL)")
    db = Database(settings.resolved_database_url())
    try:
        if await migrate.current(db) != migrate.head():
            _fail("the database is not at the newest revision: run `plait db upgrade` first")
        if dry_run:
            tally = await run_pass(db, settings, dry_run=True, default_days=days)
        elif (found := await exclusive_pass(db, settings, default_days=days)) is not None:
            tally = found
        else:
            _fail("a retention pass is running (a scheduler's): try again once it has ended")
    finally:
        await db.dispose()
    return tally.counts()


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error[/red]: {escape(message)}")
    raise typer.Exit(1)
