"""`plait templates list|show|use`: the template gallery from the command line."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.common import Params, api_command, connect, err, out, parse_pairs
from plait.cli.output import Format, Output, emit, print_table
from plait.cli.yamlio import to_yaml

templates_app = typer.Typer(
    help="Templates: list the gallery, show one, make a workflow from one.", no_args_is_help=True
)
TemplateRef = Annotated[
    str, typer.Argument(help="The template's name, id, or builtin:<name> (see `list`).")
]


def _path(ref: str) -> str:
    return f"/api/v1/templates/{quote(ref, safe=':')}"


@templates_app.command("list")
@api_command
def templates_list(
    q: Annotated[str | None, typer.Option("--search", "-s", help="In names, descriptions.")] = None,
    category: Annotated[str | None, typer.Option(help="e.g. ml_training.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    output: Output = Format.table,
) -> None:
    """Built-in templates, then saved ones (yours, and everyone's public ones)."""
    query = {"q": q, "category": category, "limit": limit, "cursor": cursor}
    page = connect().request(
        "GET", "/api/v1/templates", params={k: v for k, v in query.items() if v is not None}
    )

    def table() -> None:
        rows = Table("id", "name", "category", "author", "used", "params", "description")
        for t in page["items"]:
            visibility = "" if t["public"] else " (private)"
            rows.add_row(t["id"], t["name"] + visibility, t["category"], t["author"],
                         str(t["usage_count"]), ", ".join(t["params"]),
                         t["description"][:80])  # fmt: skip
        print_table(rows)
        if page.get("next_cursor"):
            err.print(Text(f"more: plait templates list --cursor {page['next_cursor']}"))

    emit(page, output, table)


@templates_app.command("show")
@api_command
def templates_show(ref: TemplateRef, output: Output = Format.table) -> None:
    """A template: what it is, its params, and its workflow as YAML."""
    t = connect().request("GET", _path(ref))
    emit(t, output, lambda: _show(t))


def _show(t: dict[str, Any]) -> None:
    out.print(Text(f"{t['name']} ({t['id']}), {t['category']}, by {t['author']}, "
                   f"used {t['usage_count']} time(s)"))  # fmt: skip
    out.print(Text(t["description"]))
    params = Table("param", "type", "default", "description")
    for name, p in t["params"].items():
        default = "" if p.get("default") is None else repr(p["default"])
        params.add_row(name, p.get("type", "string"), default, p.get("description", ""))
    print_table(params)
    out.print(Text(to_yaml(t["spec"])))


@templates_app.command("use")
@api_command
def templates_use(
    ref: TemplateRef,
    name: Annotated[str, typer.Option("--name", "-n", help="The new workflow's name.")],
    param: Params = None,
    output: Output = Format.table,
) -> None:
    """Make a workflow from a template; each -p sets a param's default in it."""
    body = {"name": name, "params": parse_pairs(param or [])}
    wf = connect().request("POST", f"{_path(ref)}/instantiate", json=body)
    emit(wf, output, lambda: out.print(Text(
        f"created workflow {wf['name']} from {ref}; run it: plait run {wf['name']}"
    )))  # fmt: skip
