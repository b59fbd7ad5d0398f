"""`plait runs metrics|artifacts|download` (wired in main): what a run's tasks logged and
kept."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.common import api_command, connect, err, out, run_path
from plait.cli.output import Format, Output, emit, print_table
from plait.cli.runs import RunId
from plait.cli.views import timestamp


@api_command
def runs_metrics(
    run_id: RunId,
    key: Annotated[str | None, typer.Option(help="Only this metric.")] = None,
    output: Output = Format.table,
) -> None:
    """Every metric the run's tasks logged, by key then step."""
    params = {"key": key} if key is not None else {}
    metrics = connect().request("GET", f"{run_path(run_id)}/metrics", params=params)
    emit(metrics, output, lambda: _metrics_table(metrics))


def _metrics_table(metrics: list[dict[str, Any]]) -> None:
    if not metrics:
        out.print("no metrics")
        return
    table = Table("task", "attempt", "key")
    table.add_column("step", justify="right")
    table.add_column("value", justify="right")
    table.add_column("logged (UTC)")
    for m in metrics:
        table.add_row(
            Text(m["task_key"]),
            str(m["attempt"]),
            Text(m["key"]),
            "" if m["step"] is None else str(m["step"]),
            f"{m['value']:g}",
            timestamp(m["created_at"]),
        )
    print_table(table)


@api_command
def runs_artifacts(run_id: RunId, output: Output = Format.table) -> None:
    """The files and folders the run's tasks kept (download one: plait runs download)."""
    artifacts = connect().request("GET", f"{run_path(run_id)}/artifacts")
    emit(artifacts, output, lambda: _artifacts_table(artifacts))


def _artifacts_table(artifacts: list[dict[str, Any]]) -> None:
    if not artifacts:
        out.print("no artifacts")
        return
    table = Table("id", "task", "attempt", "name")
    table.add_column("size", justify="right")
    table.add_column("created (UTC)")
    for a in artifacts:
        table.add_row(
            str(a["id"]),
            Text(a["task_key"]),
            str(a["attempt"]),
            Text(a["name"]),
            _size(a["size"]),
            timestamp(a["created_at"]),
        )
    print_table(table)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@api_command
def runs_download(
    run_id: RunId,
    artifact: Annotated[str, typer.Argument(help="The artifact's id or name.")],
    dest: Annotated[
        Path | None,
        typer.Option(
            "--to",
            help="A file, or a folder to write it in (default: the current folder, under the "
            "artifact's name; `-` for stdout). A folder artifact comes as a .zip.",
        ),
    ] = None,
) -> None:
    """Download an artifact of a run."""
    client = connect()
    artifact_id = _artifact_id(client.request("GET", f"{run_path(run_id)}/artifacts"), artifact)
    with client.stream(f"{run_path(run_id)}/artifacts/{artifact_id}") as response:
        if str(dest) == "-":
            for chunk in response.iter_bytes():
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        target = _target(dest, _filename(response.headers.get("content-disposition", "")))
        with target.open("wb") as f:
            for chunk in response.iter_bytes():
                f.write(chunk)
    err.print(Text(f"wrote {target} ({_size(target.stat().st_size)})"))


def _artifact_id(artifacts: list[dict[str, Any]], wanted: str) -> int:
    """By id, else by name: a name several attempts kept is the latest one's."""
    if wanted.isdigit() and any(a["id"] == int(wanted) for a in artifacts):
        return int(wanted)
    named = [a for a in artifacts if a["name"] == wanted]
    if named:
        return int(named[-1]["id"])
    names = ", ".join(sorted({a["name"] for a in artifacts})) or "none"
    err.print(Text(f"error: the run has no artifact {wanted!r} (it has: {names})"))
    raise typer.Exit(1)


def _filename(disposition: str) -> str:
    """The server's `filename*=utf-8''...`, reduced to a plain name (never a path)."""
    found = re.search(r"filename\*=utf-8''([^;]+)", disposition)
    name = Path(unquote(found.group(1))).name if found else ""
    return name if name not in ("", ".", "..") else "artifact"


def _target(dest: Path | None, name: str) -> Path:
    if dest is None:
        return Path(name)
    return dest / name if dest.is_dir() else dest
