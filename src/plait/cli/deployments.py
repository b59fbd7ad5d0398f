"""`plait deployments ...`: serve a model version under a name, switch it, ask it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.common import api_command, connect, err
from plait.cli.output import Format, Output, emit, print_table

deployments_app = typer.Typer(help="Models served under a name.", no_args_is_help=True)

Version = Annotated[int | None, typer.Option(min=1, help="Serve this version, fixed.")]
Stage = Annotated[
    str | None,
    typer.Option(help="Serve the version in this stage (staging, production), following it."),
]


def _table(deployments: list[dict[str, Any]]) -> None:
    table = Table("name", "model", "follows", "serving", "status", "requests", "p50 ms", "error")
    for d in deployments:
        traffic = d.get("traffic") or {}
        follows = f"stage {d['stage']}" if d["stage"] else f"v{d['version']}"
        table.add_row(
            Text(d["name"]),
            Text(d["model"]),
            follows,
            f"v{d['serving_version']}" if d["serving_version"] else "",
            d["status"],
            str(traffic.get("requests", "")),
            "" if traffic.get("p50_ms") is None else f"{traffic['p50_ms']:.2f}",
            Text(d["error"] or ""),
        )
    print_table(table)


def _choice(version: int | None, stage: str | None) -> dict[str, Any]:
    if (version is None) == (stage is None):
        err.print("give exactly one of --version and --stage")
        raise typer.Exit(2)
    return {"version": version} if version is not None else {"stage": stage}


@deployments_app.command("create")
@api_command
def create(
    name: Annotated[str, typer.Argument(help="The deployment's name (its URL).")],
    model: Annotated[str, typer.Argument(help="The registered model to serve.")],
    version: Version = None,
    stage: Stage = None,
    max_batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per request.")] = 1000,
    output: Output = Format.table,
) -> None:
    """Serve a model: a fixed --version, or the version in a --stage."""
    body = {"name": name, "model": model, "max_batch": max_batch, **_choice(version, stage)}
    created = connect().request("POST", "/api/v1/deployments", json=body)
    emit(created, output, lambda: _table([created]))


@deployments_app.command("list")
@api_command
def list_deployments(output: Output = Format.table) -> None:
    """Every deployment with its status and this server's traffic."""
    found = connect().request("GET", "/api/v1/deployments")
    emit(found, output, lambda: _table(found))


@deployments_app.command("show")
@api_command
def show(name: str, output: Output = Format.table) -> None:
    """One deployment: status, versions, traffic, the last load error."""
    found = connect().request("GET", f"/api/v1/deployments/{name}")
    emit(found, output, lambda: _table([found]))


@deployments_app.command("switch")
@api_command
def switch(
    name: str,
    version: Version = None,
    stage: Stage = None,
    output: Output = Format.table,
) -> None:
    """Switch to another version (or stage); the old one serves until the new one is ready."""
    found = connect().request("PATCH", f"/api/v1/deployments/{name}", json=_choice(version, stage))
    emit(found, output, lambda: _table([found]))


@deployments_app.command("delete")
@api_command
def delete(name: str) -> None:
    """Stop serving and forget the deployment."""
    connect().request("DELETE", f"/api/v1/deployments/{name}")
    err.print(Text(f"deleted deployment {name}"))


@deployments_app.command("predict")
@api_command
def predict(
    name: str,
    rows: Annotated[
        str,
        typer.Argument(help="A JSON list of row objects, or @file.json, or - for stdin."),
    ],
) -> None:
    """Ask a deployment for predictions; prints the answer as JSON."""
    if rows == "-":
        text = sys.stdin.read()
    elif rows.startswith("@"):
        text = Path(rows[1:]).read_text()
    else:
        text = rows
    try:
        parsed = json.loads(text)
    except ValueError as e:
        err.print(Text(f"rows are not JSON: {e}"))
        raise typer.Exit(2) from None
    answer = connect().request("POST", f"/api/v1/deployments/{name}/predict", json={"rows": parsed})
    print(json.dumps(answer))
