"""`plait models ...`: the model registry: list, show, promote."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.common import api_command, connect, out
from plait.cli.output import Format, Output, emit, print_table

models_app = typer.Typer(help="The model registry: list, show, promote.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="The model's name.")]
STAGES = ("none", "staging", "production", "archived")


@models_app.command("list")
@api_command
def models_list(
    output: Output = Format.table,
    q: Annotated[str | None, typer.Option("--q", help="Name or description contains.")] = None,
    stage: Annotated[str | None, typer.Option(help="With a version in this stage.")] = None,
) -> None:
    """Every model, with its newest version and the one in production."""
    items: list[dict[str, Any]] = []
    cursor = None
    filters = {k: v for k, v in (("q", q), ("stage", stage)) if v}
    while True:
        params = {"limit": 500, **filters, **({"cursor": cursor} if cursor else {})}
        page = connect().request("GET", "/api/v1/models", params=params)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    emit(items, output, lambda: _models_table(items))


def _models_table(items: list[dict[str, Any]]) -> None:
    if not items:
        out.print("no models")
        return
    table = Table("name", "versions", "latest", "production", "tags", "description")
    for m in items:
        latest = m["latest"] or {}
        table.add_row(Text(m["name"]), str(m["versions"]), str(latest.get("version", "")),
                      str(m["production"] or ""), Text(", ".join(m["tags"])),
                      Text(m["description"][:60]))  # fmt: skip
    print_table(table)


@models_app.command("show")
@api_command
def models_show(
    name: Name,
    version: Annotated[int | None, typer.Option("--version", "-v", help="One version.")] = None,
    output: Output = Format.table,
) -> None:
    """A model and its versions (newest first), or one version with its lineage."""
    client = connect()
    if version is not None:
        detail = client.request("GET", f"/api/v1/models/{name}/versions/{version}")
        emit(detail, output, lambda: _version(detail))
        return
    model = client.request("GET", f"/api/v1/models/{name}")
    versions = client.request("GET", f"/api/v1/models/{name}/versions", params={"limit": 500})
    emit({**model, "version_list": versions["items"]}, output,
         lambda: _show(model, versions["items"]))  # fmt: skip


def _show(model: dict[str, Any], versions: list[dict[str, Any]]) -> None:
    out.print(Text(f"{model['name']} {model['description']}".strip()))
    keys = sorted({k for v in versions for k in v["metrics"]})[:6]
    table = Table("version", "stage", "flavor", *keys, "run", "created", "by")
    for v in versions:
        metrics = [_number(v["metrics"].get(k)) for k in keys]
        table.add_row(str(v["version"]), v["stage"], v["flavor"], *metrics,
                      str(v["run_id"] or ""), v["created_at"][:19],
                      Text(v["created_by"] or ""))  # fmt: skip
    print_table(table)


def _version(v: dict[str, Any]) -> None:
    out.print(Text(f"{v['model']} version {v['version']} ({v['flavor']}), stage {v['stage']}"))
    lineage = v["lineage"]
    if lineage["run"]:
        run = lineage["run"]
        out.print(Text(f"made by run {run['id']} of {run['workflow']} ({run['status']}), "
                       f"task {run['task_key']}"))  # fmt: skip
    for d in lineage["datasets"]:
        out.print(Text(f"read dataset {d['dataset']} version {d['version']}"))
    inputs = ", ".join(f"{c['name']}:{c['type']}" for c in v["signature"].get("inputs", []))
    out.print(Text(f"inputs: {inputs or '-'}"))
    out.print(Text(f"params: {json.dumps(v['params'])}"))
    table = Table("metric", "value")
    for key, value in sorted(v["metrics"].items()):
        table.add_row(Text(key), _number(value))
    print_table(table)
    files = Table("file", "size", "sha256")
    for f in v["files"]:
        files.add_row(Text(f["name"]), str(f["size"]), f["sha256"][:16])
    print_table(files)


def _number(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@models_app.command("promote")
@api_command
def models_promote(
    name: Name,
    version: Annotated[int, typer.Argument(help="The version number.")],
    stage: Annotated[str, typer.Argument(help="none, staging, production or archived.")],
    comment: Annotated[str, typer.Option(help="Why, kept in the stage history.")] = "",
) -> None:
    """Move VERSION of NAME to STAGE; a new production version archives the previous one."""
    body = {"stage": stage, "comment": comment}
    moved = connect().request("POST", f"/api/v1/models/{name}/versions/{version}/stage", json=body)
    out.print(f"{name} version {moved['version']} is now in {moved['stage']}")
