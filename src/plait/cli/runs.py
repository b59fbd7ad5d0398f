"""`plait run` and `plait runs ...`: start runs, follow them, read their logs, stop and resume
them, all over the REST API."""

from __future__ import annotations

import shlex
import sys
import time
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.client import Client
from plait.cli.common import (
    Params,
    api_command,
    connect,
    err,
    out,
    parse_pairs,
    run_path,
    workflow_path,
)
from plait.cli.output import Format, Output, emit, print_table
from plait.cli.views import (
    attempts_table,
    duration,
    latest,
    run_details,
    run_line,
    status_text,
    timestamp,
)
from plait.cli.watch import INTERRUPTED, POLL_SECONDS, wait, watch

runs_app = typer.Typer(help="Runs: list, inspect, follow, cancel, retry.", no_args_is_help=True)

RunId = Annotated[int, typer.Argument(min=1, help="The run's id.")]
Watch = Annotated[
    bool,
    typer.Option("--watch", "-w", help="Follow the run until it ends; exit 1 unless it succeeds."),
]
RunOutput = Annotated[
    Format,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="table (default), or the run as json or yaml, alone on stdout; with --watch, the "
        "run as it ended.",
    ),
]
ATTEMPT_FINISHED = frozenset(
    {"succeeded", "failed", "up_for_retry", "upstream_failed", "skipped", "cancelled"}
)


# plait run ------------------------------------------------------------------------------------


@api_command
def start(
    name: Annotated[str, typer.Argument(help="The workflow's name (or id).")],
    param: Params = None,
    description: Annotated[str, typer.Option(help="Why this run (shown with it).")] = "",
    watch_: Watch = False,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Start at most one run for this key; again, show that run.")
    ] = None,
    output: RunOutput = Format.table,
) -> None:
    """Start a run of workflow NAME and print its id and status (with --watch, follow it)."""
    body = {"params": parse_pairs(param or []), "description": description}
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    client = connect()
    run = client.request("POST", f"{workflow_path(name)}/runs", json=body, headers=headers)
    if _as_data(client, run, output, watch_):
        return
    what = f"run {run['id']} of {run['workflow']}"
    if client.last_status == 200:  # the key was used before: this is that run, not a new one
        out.print(Text(f"{what} was already started with this key: {run['status']}"))
    else:
        out.print(Text(f"started {what}: {run['status']}"))
    _maybe_watch(client, run["id"], watch_)


def _as_data(client: Client, run: dict[str, Any], output: Format, watch_: bool) -> bool:
    """With --output json or yaml: print the run (with --watch, as it ended), exit 1 if
    watched and it did not succeed, and say so (True); the caller prints nothing else."""
    if output is Format.table:
        return False
    ended = wait(client, run["id"]) if watch_ else run
    emit(ended, output, lambda: None)
    if watch_ and ended["status"] != "succeeded":
        raise typer.Exit(1)
    return True


def _maybe_watch(client: Client, run_id: int, wanted: bool) -> None:
    if wanted:
        code = watch(client, run_id)
        if code:
            raise typer.Exit(code)


# plait runs list / show / watch ---------------------------------------------------------------


@runs_app.command("list")
@api_command
def runs_list(
    workflow: Annotated[str | None, typer.Option(help="Only this workflow's runs.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only runs in this status: queued, running, succeeded, failed, cancelled."
        ),
    ] = None,
    trigger: Annotated[
        str | None,
        typer.Option(
            help="Only runs started so: manual, api, schedule, webhook, upstream, backfill."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    output: Output = Format.table,
) -> None:
    """List runs, newest first, a page at a time."""
    filters = {"workflow": workflow, "status": status, "trigger": trigger}
    params = {**filters, "limit": limit, "cursor": cursor}
    page = connect().request(
        "GET", "/api/v1/runs", params={k: v for k, v in params.items() if v is not None}
    )
    emit(page, output, lambda: _runs_table(page, filters, limit))


def _runs_table(page: dict[str, Any], filters: dict[str, str | None], limit: int) -> None:
    if not page["items"]:
        out.print("no runs")
        return
    table = Table("id", "workflow", "version", "status", "trigger", "by", "created (UTC)")
    table.add_column("duration", justify="right")
    for run in page["items"]:
        table.add_row(
            str(run["id"]),
            Text(run["workflow"]),
            str(run["workflow_version"]),
            status_text(run["status"]),
            Text(run["trigger"]),
            Text(run["triggered_by"] or ""),
            timestamp(run["created_at"]),
            duration(run["duration"]),
        )
    print_table(table)
    if page["next_cursor"]:
        # On stderr: piped, the table stays rows only.
        err.print(Text(f"more: {_next_page(filters, limit, page['next_cursor'])}"))


def _next_page(filters: dict[str, str | None], limit: int, cursor: str) -> str:
    """The command for the next page: the cursor only continues the same filters."""
    words = ["plait", "runs", "list"]
    for name, value in filters.items():
        if value is not None:
            words += [f"--{name}", value]
    if limit != 50:
        words += ["--limit", str(limit)]
    return shlex.join([*words, "--cursor", cursor])


@runs_app.command("show")
@api_command
def runs_show(run_id: RunId, output: Output = Format.table) -> None:
    """Show a run: its params and every task's attempts, errors and outputs."""
    run = connect().request("GET", run_path(run_id))
    emit(run, output, lambda: _show(run))


def _show(run: dict[str, Any]) -> None:
    out.print(run_line(run))
    for line in run_details(run):
        out.print(line)
    print_table(attempts_table(run))


@runs_app.command("watch")
@api_command
def runs_watch(run_id: RunId) -> None:
    """Follow a run until it ends; exit 1 unless it succeeds. Ctrl-C stops watching only."""
    _maybe_watch(connect(), run_id, True)


# plait runs logs ------------------------------------------------------------------------------


@runs_app.command("logs")
@api_command
def runs_logs(
    run_id: RunId,
    task: Annotated[str, typer.Argument(help="The task's key.")],
    attempt: Annotated[
        int | None, typer.Option(min=1, help="Which attempt (default: the latest).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the attempt ends.")
    ] = False,
) -> None:
    """Print what a task's attempt wrote (stdout and stderr), as it was written."""
    reader = LogReader(connect(), run_id, task, attempt)
    try:
        whole = reader.follow() if follow else reader.read_available()
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED) from None
    if whole:
        return
    if follow:
        err.print(
            f"run {run_id} task {task} attempt {reader.attempt} has ended, but the server "
            "gives no more of its log",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)
    err.print(
        f"(attempt {reader.attempt} is still going: --follow to keep reading)",
        markup=False,
        highlight=False,
    )


class LogReader:
    """One attempt's log, read from the start by byte offset and written to stdout as is."""

    def __init__(self, client: Client, run_id: int, task: str, attempt: int | None) -> None:
        self.client, self.run_id, self.task, self.attempt = client, run_id, task, attempt
        self.path = f"{run_path(run_id)}/tasks/{quote(task, safe='')}/logs"
        self.offset = 0

    def read(self) -> tuple[bool, bool]:
        """Read one chunk: whether the log is complete, and whether this chunk moved us on."""
        params = {"offset": self.offset, **({"attempt": self.attempt} if self.attempt else {})}
        chunk = self.client.request("GET", self.path, params=params)
        # Pinned at the first answer: a retry that starts meanwhile must not switch logs on us.
        self.attempt = chunk["attempt"]
        if chunk["content"]:
            # Not through Rich: a log is shown byte for byte, never as markup or wrapped.
            sys.stdout.write(chunk["content"])
            sys.stdout.flush()
        moved = chunk["next_offset"] > self.offset
        self.offset = chunk["next_offset"]
        return chunk["complete"], moved

    def read_available(self) -> bool:
        """Everything written so far; True if that is the whole log."""
        while True:
            complete, moved = self.read()
            if complete or not moved:
                return complete

    def follow(self) -> bool:
        """Everything, waiting for the attempt to end; False if the server stops giving text
        after it ended (rather than waiting for ever)."""
        idle, ended = 0, False
        while True:
            complete, moved = self.read()
            if complete:
                return True
            if moved:
                idle = 0
                continue
            if ended:  # it had ended before this read, and still nothing more: give up
                return False
            idle += 1
            # Asked rarely: while a task prints nothing for a while, this is the only cost.
            ended = idle % 10 == 0 and self._ended()
            time.sleep(POLL_SECONDS)

    def _ended(self) -> bool:
        run = self.client.request("GET", run_path(self.run_id))
        for task in run["tasks"]:
            for attempt in task["attempts"] if task["key"] == self.task else []:
                if attempt["attempt"] == self.attempt:
                    return attempt["status"] in ATTEMPT_FINISHED
        return False


# plait runs cancel / retry / rerun -----------------------------------------------------------


@runs_app.command("cancel")
@api_command
def runs_cancel(run_id: RunId, output: Output = Format.table) -> None:
    """Stop a run (it keeps going until its tasks have stopped).

    Tasks not started are cancelled, running ones are sent SIGTERM; the run ends `cancelled`
    once they are gone."""
    run = connect().request("POST", f"{run_path(run_id)}/cancel")
    said = f"cancel requested for run {run_id} ({run['status']}); "
    emit(
        run,
        output,
        lambda: out.print(Text(said + "it ends cancelled once its running tasks have stopped")),
    )


@runs_app.command("retry")
@api_command
def runs_retry(run_id: RunId, watch_: Watch = False, output: RunOutput = Format.table) -> None:
    """Resume a failed or cancelled run: only the tasks that did not succeed run again.

    Tasks that succeeded keep their outputs; the run goes on as the same run."""
    client = connect()
    before = {t["key"]: latest(t) for t in client.request("GET", run_path(run_id))["tasks"]}
    run = client.request("POST", f"{run_path(run_id)}/retry")
    if _as_data(client, run, output, watch_):
        return
    # The server made a new attempt for each task that runs again: find them by number.
    again = [
        (t["key"], before[t["key"]]["status"], latest(t)["attempt"])
        for t in run["tasks"]
        if t["key"] in before and latest(t)["attempt"] > before[t["key"]]["attempt"]
    ]
    out.print(Text(f"run {run_id} retried ({run['status']}); {len(again)} task(s) run again:"))
    for key, was, number in again:
        out.print(Text.assemble("  ", key, " (was ", status_text(was), f") attempt {number}"))
    _maybe_watch(client, run_id, watch_)


@runs_app.command("rerun")
@api_command
def runs_rerun(run_id: RunId, watch_: Watch = False, output: RunOutput = Format.table) -> None:
    """Start a new run of the workflow's current version with this run's params."""
    client = connect()
    run = client.request("POST", f"{run_path(run_id)}/rerun")
    if _as_data(client, run, output, watch_):
        return
    what = f"run {run['id']} of {run['workflow']} (rerun of run {run_id})"
    out.print(Text(f"started {what}: {run['status']}"))
    _maybe_watch(client, run["id"], watch_)


# plait runs pin / unpin -------------------------------------------------------------------------


@runs_app.command("pin")
@api_command
def runs_pin(run_id: RunId, output: Output = Format.table) -> None:
    """Keep a run however old it gets: retention never removes a pinned run."""
    run = connect().request("POST", f"{run_path(run_id)}/pin")
    emit(run, output, lambda: out.print(Text(f"run {run_id} pinned: retention keeps it")))


@runs_app.command("unpin")
@api_command
def runs_unpin(run_id: RunId, output: Output = Format.table) -> None:
    """Let retention remove a run again once it is older than its workflow's retention."""
    run = connect().request("DELETE", f"{run_path(run_id)}/pin")
    said = f"run {run_id} unpinned: retention removes it once it is old enough"
    emit(run, output, lambda: out.print(Text(said)))
