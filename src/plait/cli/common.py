"""What every API command shares: the consoles, problem printing, and safe API paths."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape

from plait.cli.client import ApiError

# soft_wrap: long messages and paths stay on one line, whole, for grep and copy-paste.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def api_command(fn: F) -> F:
    """Show API problems as a person would want them, and exit non-zero."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            err.print(f"[red]error[/red]: {escape(exc.detail)}")
            for e in exc.errors:
                err.print(escape(f"  {e.get('field') or '(document)'}: {e.get('message')}"))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def table_console() -> Console:
    """Where to print a table: piped, it is not cut to 80 columns, so every value stays whole
    for grep."""
    return out if out.is_terminal else Console(soft_wrap=True, width=1000)


def workflow_path(ref: str | int) -> str:
    """The API path of a workflow; the name is quoted so that `../x` cannot leave it."""
    return f"/api/v1/workflows/{quote(str(ref), safe='')}"


def run_path(run_id: int) -> str:
    return f"/api/v1/runs/{run_id}"
