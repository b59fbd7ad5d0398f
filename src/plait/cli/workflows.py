"""`plait apply`, `plait export` and `plait workflows ...`: workflows as YAML files, their
state, their schedule (shown in the workflow's own timezone) and their versions."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from plait.cli.client import ApiError, Client
from plait.cli.common import Yes, api_command, connect, delete_confirmed, err, out, workflow_path
from plait.cli.output import Format, Output, emit, print_table
from plait.cli.views import timestamp
from plait.cli.yamlio import NotAWorkflow, WorkflowFile, read_workflow, to_yaml

wf_app = typer.Typer(
    help="Workflows: list, show, pause, resume, versions, diff, restore.", no_args_is_help=True
)
Name = Annotated[str, typer.Argument(help="The workflow's name (or id).")]


# plait apply / export -------------------------------------------------------------------------


@api_command
def apply(
    file: Annotated[Path, typer.Option("-f", "--file", exists=True, dir_okay=False, readable=True)],
) -> None:
    """Create or update a workflow from a YAML file, by name; print what changed."""
    workflow = _read_document(file)
    document = workflow.data
    client = connect()
    name = str(document.get("name", ""))
    try:
        current = client.request("GET", workflow_path(name)) if name else None
    except ApiError as exc:
        if exc.status != 404:
            raise
        current = None
    if current is None:
        with workflow.locating():  # the server's problems at their lines of the file
            created = client.request("POST", "/api/v1/workflows", json=document)
        out.print(f"created workflow {created['name']} (id {created['id']}) at version 1")
        return
    old = current["current_version"]
    with workflow.locating():
        updated = client.request(
            "PUT", workflow_path(current["id"]), json=document, headers={"If-Match": str(old)}
        )
    new = updated["current_version"]
    if new == old:
        out.print(f"workflow {updated['name']} unchanged at version {new}")
        return
    print_diff(_diff(client, updated["id"], old, new))
    out.print(f"workflow {updated['name']} updated: version {old} -> {new}")


def _read_document(file: Path) -> WorkflowFile:
    try:
        data = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]error[/red]: cannot read {escape(str(file))}: {escape(str(exc))}")
        raise typer.Exit(1) from None
    try:
        return read_workflow(data.decode("utf-8"), str(file))
    except UnicodeDecodeError as exc:
        message = f"{file} is not a workflow document: {exc}"
    except NotAWorkflow as exc:
        message = f"{exc}"
    err.print(f"[red]error[/red]: {escape(message)}")
    raise typer.Exit(1) from None


def _diff(client: Client, ref: str | int, old: int, new: int) -> dict[str, Any]:
    changes: dict[str, Any] = client.request(
        "GET", f"{workflow_path(ref)}/versions/{old}/diff/{new}"
    )
    return changes


def print_diff(changes: dict[str, Any]) -> None:
    for field, change in changes["fields"].items():
        values = escape(f"{field}: {_short(change['from'])} -> {_short(change['to'])}")
        out.print(f"[yellow]~[/yellow] {values}")
    tasks = changes["tasks"]
    for key in tasks["added"]:
        out.print(f"[green]+[/green] task {key}")
    for key in tasks["removed"]:
        out.print(f"[red]-[/red] task {key}")
    for key, fields in tasks["changed"].items():
        out.print(f"[yellow]~[/yellow] task {key}: {', '.join(fields)}")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


@api_command
def export(
    name: Name,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Default: stdout.")] = None,
) -> None:
    """Write a workflow as YAML that `plait apply` takes back unchanged (`-o` is a file here:
    the YAML is the output)."""
    text = to_yaml(connect().request("GET", workflow_path(name)))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {escape(str(output))}")


# Times of a schedule ---------------------------------------------------------------------------


def local_time(value: str, timezone: str) -> str:
    """A UTC time from the API in the workflow's timezone, as its cron reads it:
    `2026-03-02 06:00 CET`."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{timestamp(value)[:16]} UTC"
    return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def next_runs(wf: dict[str, Any], times: list[str]) -> list[str]:
    """The next scheduled runs as a person should read them: none while paused."""
    return [] if wf["paused"] else [local_time(t, wf["timezone"]) for t in times]


# plait workflows list / show --------------------------------------------------------------------


@wf_app.command("list")
@api_command
def workflows_list(
    tag: Annotated[list[str] | None, typer.Option(help="Only with this tag (repeatable).")] = None,
    q: Annotated[str | None, typer.Option(help="Search names and descriptions.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    output: Output = Format.table,
) -> None:
    """List workflows, a page at a time; next runs in each workflow's timezone."""
    params: dict[str, Any] = {"limit": limit, "tag": tag or [], "q": q, "cursor": cursor}
    page = connect().request(
        "GET", "/api/v1/workflows", params={k: v for k, v in params.items() if v}
    )
    emit(page, output, lambda: _workflows_table(page))


def _workflows_table(page: dict[str, Any]) -> None:
    table = Table("id")
    table.add_column("name", overflow="fold")  # never cut a name short
    for column in ("tags", "schedule", "paused", "version", "owner", "next run"):
        table.add_column(column)
    for w in page["items"]:
        fire = [w["next_fire_time"]] if w["next_fire_time"] else []
        table.add_row(
            str(w["id"]),
            Text(w["name"]),
            Text(",".join(w["tags"])),
            Text(w["schedule"] or ""),
            "yes" if w["paused"] else "",
            str(w["current_version"]),
            Text(w["owner"] or ""),
            "".join(next_runs(w, fire)),
        )
    print_table(table)
    if page["next_cursor"]:
        err.print(Text(f"more: plait workflows list --cursor {page['next_cursor']}"))


@wf_app.command("show")
@api_command
def workflows_show(name: Name, output: Output = Format.table) -> None:
    """Show a workflow: its state, next runs (in its timezone) and definition."""
    wf = connect().request("GET", workflow_path(name))
    emit(wf, output, lambda: _show(wf))


def _show(wf: dict[str, Any]) -> None:
    out.print(
        Text.assemble(
            (wf["name"], "bold"),
            f" (id {wf['id']}), version {wf['current_version']}, owner {wf['owner']}, "
            f"{'paused' if wf['paused'] else 'active'}",
        )
    )
    for when in next_runs(wf, wf["next_fire_times"]):
        out.print(f"  next run: {when}")
    if wf["paused"] and wf["schedule"]:
        out.print(Text(f"  no scheduled runs while paused: plait workflows resume {wf['name']}"))
    sys.stdout.write(to_yaml(wf))


# plait workflows pause / resume / delete / clone ------------------------------------------------


@wf_app.command("pause")
@api_command
def workflows_pause(name: Name, output: Output = Format.table) -> None:
    """Pause a workflow: its schedule, hooks and chains start no runs (runs going on go on)."""
    wf = _set_paused(name, True)
    emit(wf, output, lambda: out.print(Text(f"paused {wf['name']}")))


@wf_app.command("resume")
@api_command
def workflows_resume(name: Name, output: Output = Format.table) -> None:
    """Resume a paused workflow: its schedule starts runs again."""
    wf = _set_paused(name, False)

    def said() -> None:
        out.print(Text(f"resumed {wf['name']}"))
        for when in next_runs(wf, wf["next_fire_times"][:1]):
            out.print(f"  next run: {when}")

    emit(wf, output, said)


def _set_paused(name: str, paused: bool) -> dict[str, Any]:
    wf: dict[str, Any] = connect().request("PATCH", workflow_path(name), json={"paused": paused})
    return wf


@wf_app.command("delete")
@api_command
def workflows_delete(name: Name, yes: Yes = False) -> None:
    """Delete a workflow and its history."""
    delete_confirmed(connect(), workflow_path(name),
                     f"Delete workflow {name} and all its versions?", f"deleted {name}",
                     yes=yes)  # fmt: skip


@wf_app.command("clone")
@api_command
def workflows_clone(name: Name, new_name: str, output: Output = Format.table) -> None:
    """Copy a workflow's current version into a new, paused workflow that you own."""
    wf = connect().request("POST", f"{workflow_path(name)}/clone", json={"name": new_name})
    emit(
        wf,
        output,
        lambda: out.print(Text(f"cloned {name} into {wf['name']} (id {wf['id']}, paused)")),
    )


# plait workflows versions / diff / restore ------------------------------------------------------


@wf_app.command("versions")
@api_command
def workflows_versions(
    name: Name,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    output: Output = Format.table,
) -> None:
    """List a workflow's versions, newest first."""
    params: dict[str, Any] = {"limit": limit, **({"before": cursor} if cursor else {})}
    page = connect().request("GET", f"{workflow_path(name)}/versions", params=params)

    def table() -> None:
        rows = Table("version", "created (UTC)", "by", "message", "hash")
        for v in page["items"]:
            rows.add_row(
                str(v["version"]),
                timestamp(v["created_at"]),
                Text(v["created_by"] or ""),
                Text(v["message"]),
                v["content_hash"][:12],
            )
        print_table(rows)
        if page["next_cursor"]:
            err.print(Text(f"more: plait workflows versions {name} --cursor {page['next_cursor']}"))

    emit(page, output, table)


@wf_app.command("diff")
@api_command
def workflows_diff(
    name: Name,
    old: Annotated[int, typer.Argument(min=1, help="The version to compare from.")],
    new: Annotated[
        int | None, typer.Argument(min=1, help="The version to compare to (default: current).")
    ] = None,
    output: Output = Format.table,
) -> None:
    """What changed between two versions of a workflow."""
    client = connect()
    if new is None:
        new = int(client.request("GET", workflow_path(name))["current_version"])
    changes = _diff(client, name, old, new)

    def said() -> None:
        if not (changes["fields"] or any(changes["tasks"].values())):
            out.print(f"versions {old} and {new} are the same")
        print_diff(changes)

    emit(changes, output, said)


@wf_app.command("restore")
@api_command
def workflows_restore(
    name: Name,
    version: Annotated[int, typer.Argument(min=1, help="The version to make current again.")],
    output: Output = Format.table,
) -> None:
    """Make an old version current again, as a new version (history is never rewritten)."""
    client = connect()
    before = int(client.request("GET", workflow_path(name))["current_version"])
    wf = client.request("POST", f"{workflow_path(name)}/versions/{version}/restore")
    now = wf["current_version"]
    if now == before:
        said = f"workflow {wf['name']} unchanged at version {now} (it is version {version})"
    else:
        said = f"restored version {version} of {wf['name']} as version {now}"
    emit(wf, output, lambda: out.print(Text(said)))
