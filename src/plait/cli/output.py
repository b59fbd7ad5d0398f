"""How a command prints what the API answered: `--output json|yaml` prints the answer itself
and nothing else (for scripts and `jq`); the default is a table, drawn on a terminal and plain
tab-separated lines when piped (for `cut`, `awk`, `grep`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import typer
import yaml
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from plait.cli.common import out


class Format(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


Output = Annotated[
    Format,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="table (default), or the API's answer as json or yaml, alone on stdout.",
    ),
]


def emit(data: Any, output: Format, human: Callable[[], None]) -> None:
    """Print `data` (the API's answer) as asked; `human` prints the default view."""
    if output is Format.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif output is Format.yaml:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    else:
        human()


def print_table(table: Table) -> None:
    """On a terminal, the table drawn; piped, a header line and one line per row, the cells
    whole and separated by tabs (a tab or newline inside a cell becomes a space)."""
    if out.is_terminal:
        out.print(table)
        return
    columns = [[column.header, *column.cells] for column in table.columns]
    for row in zip(*columns, strict=True):
        sys.stdout.write("\t".join(_plain(cell) for cell in row) + "\n")
    sys.stdout.flush()


def _plain(cell: RenderableType) -> str:
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        text = Text.from_markup(cell).plain
    else:
        text = str(cell)
    return " ".join(text.split()) if ("\t" in text or "\n" in text) else text
