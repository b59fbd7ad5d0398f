"""`plait admin`: what the operator does on the server's own machine, against its database
directly (no server or login needed), with the server's settings (PLAIT_* and --data-dir)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape

from plait.cli.common import err, out

if TYPE_CHECKING:
    from plait.db.engine import Database
    from plait.settings import Settings

admin_app = typer.Typer(
    help="Server administration on the server's machine (uses its database directly).",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", envvar="PLAIT_DATA_DIR", help="Default ~/.plait.")
]


@admin_app.command("reset-password")
def reset_password(
    username: Annotated[str, typer.Argument(help="The user whose password is replaced.")],
    password_stdin: Annotated[
        bool, typer.Option(help="Read the new password from stdin instead of generating one.")
    ] = False,
    prompt: Annotated[
        bool, typer.Option(help="Ask for the new password instead of generating one.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Give USERNAME a new password and end their logins (refresh tokens are revoked).

    Without --password-stdin or --prompt a password is generated and printed, once.
    """
    password = _read_password(password_stdin, prompt)
    generated = asyncio.run(_reset(data_dir, username, password))
    out.print(escape(f"password of {username} reset; their other logins are ended"))
    if generated is not None:
        out.print(escape(f"new password: {generated}  (shown once)"))


def _read_password(password_stdin: bool, prompt: bool) -> str | None:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if prompt:
        text: str = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
        return text
    return None


@asynccontextmanager
async def server_database(data_dir: Path | None) -> AsyncIterator[tuple[Settings, Database]]:
    """The server's settings and its database, which must exist and be at the newest
    revision (else exit 1 saying so); a PlaitError inside exits 1 with its detail."""
    from plait.db import migrate
    from plait.db.engine import Database
    from plait.errors import PlaitError
    from plait.settings import Settings

    if data_dir is not None:
        os.environ["PLAIT_DATA_DIR"] = str(data_dir)
    settings = Settings()
    # Connecting to SQLite would create an empty file: say there is nothing here instead.
    if settings.database_url is None and not (settings.data_dir / "plait.db").exists():
        fail(f"no Plait database in {settings.data_dir} (see --data-dir, PLAIT_DATABASE_URL)")
    db = Database(settings.resolved_database_url())
    try:
        if await migrate.current(db) != migrate.head():
            fail("the database is not at the newest revision: run `plait db upgrade` first")
        yield settings, db
    except PlaitError as exc:
        fail(exc.detail)
    finally:
        await db.dispose()


async def _reset(data_dir: Path | None, username: str, password: str | None) -> str | None:
    from plait.auth.bootstrap import reset_password as reset

    async with server_database(data_dir) as (_settings, db):
        return await reset(db, username, password)
    raise AssertionError("unreachable")  # server_database exits on failure


def fail(message: str) -> NoReturn:
    err.print(f"[red]error[/red]: {escape(message)}")
    raise typer.Exit(1)
