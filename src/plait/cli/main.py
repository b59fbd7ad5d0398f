"""`plait`: run the server, migrate the database, and manage workflows (and, through
`plait.cli.runs`, their runs) over the REST API."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from plait.cli import runs, worker
from plait.cli.admin import admin_app
from plait.cli.client import DEFAULT_URL, ApiError, Client, Login
from plait.cli.common import api_command, err, out, table_console, workflow_path
from plait.cli.tokens import tokens_app
from plait.cli.yamlio import NotAWorkflow, WorkflowFile, read_workflow, to_yaml

app = typer.Typer(
    help="Plait: workflows of tasks, each in its own process.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold passwords and tokens
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
wf_app = typer.Typer(help="Workflows.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(wf_app, name="workflows")
app.add_typer(runs.runs_app, name="runs")
app.add_typer(tokens_app, name="tokens")
app.add_typer(admin_app, name="admin")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", envvar="PLAIT_DATA_DIR", help="Default ~/.plait.")
]


def _settings(data_dir: Path | None) -> Any:
    from plait.settings import Settings

    if data_dir is not None:
        os.environ["PLAIT_DATA_DIR"] = str(data_dir)
    return Settings()


@app.command()
def server(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
) -> None:
    """Start the API (migrations are applied first)."""
    import logging

    import uvicorn

    from plait.api.app import create_app

    # Before anything is written: a first start on a taken port used to create the admin,
    # print its password and only then fail, so the next start had no password to show.
    listener = _listen(host, port)
    settings = _settings(data_dir)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    err.print(escape(f"Plait on http://{host}:{port}  (data: {settings.data_dir}, docs: /docs)"))
    # No permessage-deflate: compressing every event for every socket costs more CPU than
    # the bandwidth it saves on small JSON frames.
    config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False,
                            ws_per_message_deflate=False)  # fmt: skip
    uvicorn.Server(config).run(sockets=[listener])


@app.command()
def scheduler(data_dir: DataDir = None) -> None:
    """Run the scheduler alone, with no API: cron, the run engine and the event dispatcher,
    on the configured database and bus (servers beside it run with PLAIT_SCHEDULER=false)."""
    import logging

    settings = _settings(data_dir)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    err.print(escape(f"Plait scheduler (executor {settings.executor}, data: {settings.data_dir})"))
    asyncio.run(_run_scheduler(settings))


async def _run_scheduler(settings: Any) -> None:
    import signal

    from plait import services

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with services.running(settings, scheduler=True):
        await stop.wait()


EXIT_CANNOT_LISTEN = 3


def _listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, or exit EXIT_CANNOT_LISTEN with the reason."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        _cannot_listen(host, port, exc)
    try:
        # As uvicorn does: a restart may bind while old connections linger in TIME_WAIT;
        # a port another process listens on is refused all the same.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        _cannot_listen(host, port, exc)
    return sock


def _cannot_listen(host: str, port: int, exc: OSError) -> NoReturn:
    reason = exc.strerror or str(exc)
    err.print(f"[red]error[/red]: cannot listen on {escape(f'{host}:{port}')}: {escape(reason)}")
    err.print("nothing was started or written; free the port or choose another with --port")
    raise typer.Exit(EXIT_CANNOT_LISTEN)


def _db_run(data_dir: Path | None, action: str, revision: str = "head") -> str | None:
    from plait.db import migrate
    from plait.db.engine import Database

    async def go() -> str | None:
        db = Database(_settings(data_dir).resolved_database_url())
        try:
            if action == "upgrade":
                await migrate.upgrade(db, revision)
            elif action == "downgrade":
                await migrate.downgrade(db, revision)
            return await migrate.current(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


EMPTY = "empty (no migrations applied)"


def _at(revision: str | None) -> str:
    return f"database at revision {revision}" if revision else f"database {EMPTY}"


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Default: the newest.")] = "head",
    data_dir: DataDir = None,
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    out.print(_at(_db_run(data_dir, "upgrade", revision)))


@db_app.command("downgrade")
def db_downgrade(revision: str, data_dir: DataDir = None) -> None:
    """Revert migrations down to REVISION (`base` empties the database)."""
    out.print(_at(_db_run(data_dir, "downgrade", revision)))


@db_app.command("current")
def db_current(data_dir: DataDir = None) -> None:
    """Show the database's revision."""
    out.print(_db_run(data_dir, "current") or EMPTY)


@app.command()
@api_command
def login(
    url: Annotated[str, typer.Option(envvar="PLAIT_URL")] = DEFAULT_URL,
    username: Annotated[str, typer.Option(prompt=True)] = "admin",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Log in and keep the tokens in ~/.config/plait/cli.json (mode 0600)."""
    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else typer.prompt("Password", hide_input=True)
    )
    client = Client(Login(url=url))
    data = client.authenticate(username, password)
    user = data["user"]
    out.print(escape(f"logged in to {url} as {user['username']} ({user['role']})"))


@app.command()
@api_command
def passwd() -> None:
    """Change your password (every other login of yours is ended)."""
    current = typer.prompt("Current password", hide_input=True)
    new = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    client = Client()
    client.request(
        "POST", "/api/v1/users/me/password", json={"current_password": current, "new_password": new}
    )
    out.print("password changed; log in again with `plait login`")


@app.command()
@api_command
def apply(
    file: Annotated[Path, typer.Option("-f", "--file", exists=True, dir_okay=False, readable=True)],
) -> None:
    """Create or update a workflow from a YAML file, by name; print what changed."""
    workflow = _read_document(file)
    document = workflow.data
    client = Client()
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
    changes = client.request("GET", f"{workflow_path(updated['id'])}/versions/{old}/diff/{new}")
    print_diff(changes)
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


@app.command()
@api_command
def export(
    name: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Default: stdout.")] = None,
) -> None:
    """Write a workflow as YAML that `plait apply` takes back unchanged."""
    text = to_yaml(Client().request("GET", workflow_path(name)))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {escape(str(output))}")


@wf_app.command("list")
@api_command
def workflows_list(
    tag: Annotated[list[str] | None, typer.Option(help="Only with this tag (repeatable).")] = None,
    q: Annotated[str | None, typer.Option(help="Search names and descriptions.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
) -> None:
    """List workflows, a page at a time."""
    params: dict[str, Any] = {"limit": limit, "tag": tag or [], "q": q, "cursor": cursor}
    page = Client().request(
        "GET", "/api/v1/workflows", params={k: v for k, v in params.items() if v}
    )
    table = Table("id")
    table.add_column("name", overflow="fold")  # never cut a name short
    for column in ("tags", "schedule", "paused", "version", "owner", "next run"):
        table.add_column(column)
    for w in page["items"]:
        table.add_row(
            str(w["id"]),
            w["name"],
            ",".join(w["tags"]),
            w["schedule"] or "",
            "yes" if w["paused"] else "",
            str(w["current_version"]),
            escape(w["owner"] or ""),
            (w["next_fire_time"] or "")[:16],
        )
    table_console().print(table)
    if page["next_cursor"]:
        out.print(f"more: plait workflows list --cursor {page['next_cursor']}")


@wf_app.command("show")
@api_command
def workflows_show(name: str) -> None:
    """Show a workflow: its definition and state."""
    wf = Client().request("GET", workflow_path(name))
    out.print(
        f"[bold]{wf['name']}[/bold] (id {wf['id']}), version {wf['current_version']}, "
        f"owner {escape(str(wf['owner']))}, {'paused' if wf['paused'] else 'active'}"
    )
    for when in wf["next_fire_times"]:
        out.print(f"  next run: {when}")
    sys.stdout.write(to_yaml(wf))


@wf_app.command("delete")
@api_command
def workflows_delete(
    name: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False
) -> None:
    """Delete a workflow and its history."""
    if not yes:
        typer.confirm(f"Delete workflow {name} and all its versions?", abort=True)
    Client().request("DELETE", workflow_path(name))
    out.print(f"deleted {name}")


@wf_app.command("clone")
@api_command
def workflows_clone(name: str, new_name: str) -> None:
    """Copy a workflow's current version into a new, paused workflow that you own."""
    wf = Client().request("POST", f"{workflow_path(name)}/clone", json={"name": new_name})
    out.print(f"cloned {name} into {wf['name']} (id {wf['id']}, paused)")


app.command("worker")(worker.worker)
# Last, so that `plait --help` lists it after the workflow commands it builds on.
app.command("run")(runs.start)
