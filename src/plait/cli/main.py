"""`plait`: run the server, migrate the database, log in, and wire the commands that manage
workflows, runs, hooks, users and notifications over the REST API (one module each)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from plait import __version__
from plait.cli import (
    backfills,
    compare,
    datasets,
    dbclean,
    exports,
    hooks,
    models,
    notify,
    results,
    runs,
    sweeps,
    templates,
    users,
    worker,
    workflows,
)
from plait.cli.admin import admin_app
from plait.cli.client import Client, Login
from plait.cli.common import api_command, choose_server, connect, err, global_url, out
from plait.cli.deployments import deployments_app
from plait.cli.tokens import tokens_app

app = typer.Typer(
    help="Plait: workflows of tasks, each in its own process.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold passwords and tokens
    # Inherited by every subcommand's context: `plait runs list -h` works too.
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Database migrations and cleaning.", no_args_is_help=True)
app.add_typer(db_app, name="db")
db_app.command("clean")(dbclean.db_clean)
app.add_typer(workflows.wf_app, name="workflows")
app.add_typer(runs.runs_app, name="runs")
app.add_typer(backfills.backfills_app, name="backfills")
app.add_typer(sweeps.sweeps_app, name="sweeps")
app.add_typer(hooks.hooks_app, name="hooks")
app.add_typer(tokens_app, name="tokens")
app.add_typer(users.users_app, name="users")
app.add_typer(notify.channels_app, name="channels")
app.add_typer(notify.rules_app, name="rules")
app.add_typer(admin_app, name="admin")
app.add_typer(templates.templates_app, name="templates")
app.add_typer(datasets.datasets_app, name="datasets")
app.add_typer(models.models_app, name="models")
exports.register(models.models_app)
app.add_typer(deployments_app, name="deployments")


def _version(wanted: bool) -> None:
    if wanted:
        out.print(f"plait {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="PLAIT_URL",
            help="The server to talk to. Default: the one `plait login` logged into last, "
            "else http://127.0.0.1:8000.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Plait: workflows of tasks, each in its own process."""
    choose_server(url)


DataDir = Annotated[
    Path | None, typer.Option("--data-dir", envvar="PLAIT_DATA_DIR", help="Default ~/.plait.")
]


def _settings(data_dir: Path | None, **given: Any) -> Any:
    """The server's settings (PLAIT_* and these options); a wrong PLAIT_* value is said
    plainly, not as a traceback."""
    from pydantic import ValidationError

    from plait.settings import Settings

    if data_dir is not None:
        os.environ["PLAIT_DATA_DIR"] = str(data_dir)
    try:
        return Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        for e in exc.errors(include_url=False, include_input=False):
            name = "PLAIT_" + "_".join(str(part) for part in e["loc"]).upper()
            err.print(f"[red]error[/red]: {escape(name)}: {escape(e['msg'])}")
        raise typer.Exit(2) from None


@app.command()
def server(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default: PLAIT_HOST, else 127.0.0.1).",
                     show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on (default: PLAIT_PORT, else 8000).",
                     show_default=False),
    ] = None,
    data_dir: DataDir = None,
) -> None:  # fmt: skip
    """Start the API (migrations are applied first)."""
    import logging

    import uvicorn

    from plait import heap
    from plait.api.app import create_app

    settings = _settings(data_dir, host=host, port=port)
    # Before anything is written: a first start on a taken port used to create the admin,
    # print its password and only then fail, so the next start had no password to show.
    listener = _listen(settings.host, settings.port)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    where = f"{settings.host}:{settings.port}"
    err.print(escape(f"Plait on {where}, reached at {settings.base_url}  "
                     f"(data: {settings.data_dir}, docs: /docs)"))  # fmt: skip
    # No permessage-deflate: compressing every event for every socket costs more CPU than
    # the bandwidth it saves on small JSON frames.
    config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False,
                            ws_per_message_deflate=False)  # fmt: skip
    heap.settle()  # the code and the app are built: keep the collector's pauses short
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
    url: Annotated[
        str | None,
        typer.Option(help="The server (default: plait --url, PLAIT_URL, the last login's).",
                     show_default=False),
    ] = None,
    username: Annotated[str, typer.Option(prompt=True)] = "admin",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:  # fmt: skip
    """Log in, and remember the server and its tokens in ~/.config/plait/cli.json (mode 0600):
    later commands talk to it with no --url."""
    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else typer.prompt("Password", hide_input=True)
    )
    login = Login.load(url or global_url())
    client = Client(Login(url=login.url))  # a new login: none of the old tokens
    data = client.authenticate(username, password)
    user = data["user"]
    out.print(escape(f"logged in to {login.url} as {user['username']} ({user['role']})"))


@app.command()
@api_command
def passwd() -> None:
    """Change your password (every other login of yours is ended)."""
    current = typer.prompt("Current password", hide_input=True)
    new = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    client = connect()
    client.request(
        "POST", "/api/v1/users/me/password", json={"current_password": current, "new_password": new}
    )
    out.print("password changed; log in again with `plait login`")


runs.runs_app.command("metrics")(results.runs_metrics)
runs.runs_app.command("artifacts")(results.runs_artifacts)
runs.runs_app.command("download")(results.runs_download)
runs.runs_app.command("compare")(compare.runs_compare)
app.command("apply")(workflows.apply)
app.command("export")(workflows.export)
app.command("worker")(worker.worker)
# Last, so that `plait --help` lists them after the workflow commands they build on.
app.command("run")(runs.start)
app.command("backfill")(backfills.start)
app.command("sweep")(sweeps.start)
