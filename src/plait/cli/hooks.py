"""`plait hooks ...`: inbound hooks, the URLs other systems POST to to start a workflow's runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.common import Yes, api_command, connect, delete_confirmed, err, out, workflow_path
from plait.cli.output import Format, Output, emit, print_table
from plait.cli.views import compact

hooks_app = typer.Typer(
    help="Inbound hooks: list, create, enable, disable, delete.", no_args_is_help=True
)
Workflow = Annotated[str, typer.Argument(help="The workflow's name (or id).")]
HookId = Annotated[int, typer.Argument(min=1, help="The hook's id (plait hooks list).")]


def _hooks(workflow: str) -> str:
    return f"{workflow_path(workflow)}/hooks"


@hooks_app.command("list")
@api_command
def hooks_list(workflow: Workflow, output: Output = Format.table) -> None:
    """A workflow's hooks and their URLs (never their secrets)."""
    hooks = connect().request("GET", _hooks(workflow))
    emit(hooks, output, lambda: _hooks_table(hooks))


def _hooks_table(hooks: list[dict[str, Any]]) -> None:
    if not hooks:
        out.print("no hooks")
        return
    table = Table("id", "name", "enabled", "url", "params")
    for h in hooks:
        table.add_row(
            str(h["id"]),
            Text(h["name"]),
            "yes" if h["enabled"] else "no",
            Text(h["url"]),
            Text(compact(h["params"]) if h["params"] else ""),
        )
    print_table(table)


@hooks_app.command("create")
@api_command
def hooks_create(
    workflow: Workflow,
    name: Annotated[str, typer.Argument(help="What the hook is for (who calls it).")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            "--param",
            metavar="PARAM=/POINTER",
            help="Take run param PARAM from the delivery's JSON body at this JSON pointer "
            "(repeatable), e.g. -p lr=/config/lr.",
        ),
    ] = None,
    output: Output = Format.table,
) -> None:
    """Create a hook and print its URL, secret and token (shown this once: store them now)."""
    body = {"name": name, "params": _pointers(param or [])}
    hook = connect().request("POST", _hooks(workflow), json=body)
    emit(hook, output, lambda: _created(hook))


def _pointers(pairs: list[str]) -> dict[str, str]:
    """Pointers are text as written: not read as JSON like run params."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        key, sep, pointer = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not PARAM=/POINTER", param_hint="'-p'")
        mapping[key] = pointer
    return mapping


def _created(hook: dict[str, Any]) -> None:
    err.print(Text(f"created hook {hook['id']} ({hook['name']}); secret and token shown once:"))
    out.print(Text(f"url     {hook['url']}"))
    out.print(Text(f"secret  {hook['secret']}"))
    out.print(Text(f"token   {hook['token']}"))


@hooks_app.command("enable")
@api_command
def hooks_enable(workflow: Workflow, hook_id: HookId, output: Output = Format.table) -> None:
    """Let a disabled hook start runs again."""
    _set_enabled(workflow, hook_id, True, output)


@hooks_app.command("disable")
@api_command
def hooks_disable(workflow: Workflow, hook_id: HookId, output: Output = Format.table) -> None:
    """Refuse a hook's deliveries (404) until it is enabled again."""
    _set_enabled(workflow, hook_id, False, output)


def _set_enabled(workflow: str, hook_id: int, enabled: bool, output: Format) -> None:
    hook = connect().request("PATCH", f"{_hooks(workflow)}/{hook_id}", json={"enabled": enabled})
    said = f"hook {hook['id']} ({hook['name']}) {'enabled' if enabled else 'disabled'}"
    emit(hook, output, lambda: out.print(Text(said)))


@hooks_app.command("delete")
@api_command
def hooks_delete(
    workflow: Workflow,
    hook_id: HookId,
    yes: Yes = False,
) -> None:
    """Delete a hook: its URL answers 404 from now on."""
    delete_confirmed(connect(), f"{_hooks(workflow)}/{hook_id}",
                     f"Delete hook {hook_id} of {workflow}?", f"deleted hook {hook_id}",
                     yes=yes)  # fmt: skip
