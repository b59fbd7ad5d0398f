"""`plait backfill NAME --from --to` and `plait backfills ...`: one run per fire time of a
workflow's schedule in a past range, as a group to follow, cancel and retry."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.client import Client
from plait.cli.common import Params, api_command, connect, err, out, parse_pairs, workflow_path
from plait.cli.output import Format, Output, emit, print_table
from plait.cli.views import status_text, timestamp
from plait.cli.watch import INTERRUPTED
from plait.cli.workflows import local_time

backfills_app = typer.Typer(
    help="Backfills: list, show, cancel, retry (start one: plait backfill).", no_args_is_help=True
)
Follow = Annotated[
    bool, typer.Option("--watch", "-w", help="Follow it until it ends; exit 1 unless it succeeds.")
]
BackfillId = Annotated[int, typer.Argument(min=1, help="The backfill's id.")]
POLL_SECONDS = 1.0  # a backfill's runs take their time: no need to ask more often
COUNTED = ("queued", "running", "succeeded", "failed", "cancelled")


def _path(backfill_id: int) -> str:
    return f"/api/v1/backfills/{backfill_id}"


@api_command
def start(
    name: Annotated[str, typer.Argument(help="The workflow's name (or id); it needs a schedule.")],
    start_at: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="DATE",
            help="The range's start: 2026-03-01 or 2026-03-01T06:00, read in the workflow's "
            "timezone (or with an offset).",
        ),
    ],
    end_at: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="DATE",
            help="The range's end, included (a date: all its day), as --from.",
        ),
    ],
    max_parallel: Annotated[
        int, typer.Option(min=1, max=32, help="Runs of the backfill at once.")
    ] = 1,
    param: Params = None,
    watch_: Follow = False,
    output: Output = Format.table,
) -> None:
    """Start one run of workflow NAME per fire time of its schedule from --from to --to
    (fire times that already have a run are skipped)."""
    body: dict[str, Any] = {"start": start_at, "end": end_at, "max_parallel": max_parallel}
    if param:
        body["params"] = parse_pairs(param)
    client = connect()
    backfill = client.request("POST", f"{workflow_path(name)}/backfills", json=body)
    emit(backfill, output, lambda: _started(backfill))
    if watch_:
        code = _watch(client, backfill, quiet=output is not Format.table)
        if code:
            raise typer.Exit(code)


def _started(b: dict[str, Any]) -> None:
    at_once = f"{b['max_parallel']} at a time"
    out.print(
        Text(f"started backfill {b['id']} of {b['workflow']}: {b['total']} run(s), {at_once}")
    )
    out.print(Text(f"  from {_local(b, b['start'])} to {_local(b, b['end'])}"))
    if b["skipped"]:
        skipped = ", ".join(_local(b, t) for t in b["skipped"])
        out.print(Text(f"  skipped {len(b['skipped'])} fire time(s) that already ran: {skipped}"))


def _local(b: dict[str, Any], when: str) -> str:
    return local_time(when, b["timezone"])


def _watch(client: Client, backfill: dict[str, Any], quiet: bool) -> int:
    """Follow a backfill to its end, a line each time its counts change; the exit status."""
    said = ""
    try:
        while backfill["status"] == "running":
            time.sleep(POLL_SECONDS)
            backfill = client.request("GET", _path(backfill["id"]))
            line = _progress(backfill)
            if line != said and not quiet:
                said = line
                out.print(Text(line))
    except KeyboardInterrupt:
        err.print(f"stopped watching; backfill {backfill['id']} goes on", highlight=False)
        return INTERRUPTED
    if not quiet:
        out.print(Text.assemble(f"backfill {backfill['id']} ", status_text(backfill["status"])))
        if backfill["status"] != "succeeded":
            out.print(f"retry its failed runs: plait backfills retry {backfill['id']}")
    return 0 if backfill["status"] == "succeeded" else 1


def _progress(b: dict[str, Any]) -> str:
    counts = b["counts"]
    done = sum(counts.get(k, 0) for k in ("succeeded", "failed", "cancelled"))
    parts = ", ".join(f"{counts[k]} {k}" for k in COUNTED if counts.get(k))
    return f"backfill {b['id']}: {done}/{b['total']} done ({parts or 'nothing yet'})"


@backfills_app.command("list")
@api_command
def backfills_list(
    name: Annotated[str, typer.Argument(help="The workflow's name (or id).")],
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    output: Output = Format.table,
) -> None:
    """A workflow's backfills, newest first."""
    params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
    page = connect().request("GET", f"{workflow_path(name)}/backfills", params=params)

    def table() -> None:
        rows = Table("id", "status", "from", "to", "runs", "succeeded", "failed", "created (UTC)")
        for b in page["items"]:
            rows.add_row(
                str(b["id"]),
                status_text(b["status"]),
                _local(b, b["start"]),
                _local(b, b["end"]),
                str(b["total"]),
                str(b["counts"].get("succeeded", 0)),
                str(b["counts"].get("failed", 0)),
                timestamp(b["created_at"]),
            )
        print_table(rows)
        if page.get("next_cursor"):
            err.print(Text(f"more: plait backfills list {name} --cursor {page['next_cursor']}"))

    emit(page, output, table)


@backfills_app.command("show")
@api_command
def backfills_show(backfill_id: BackfillId, output: Output = Format.table) -> None:
    """A backfill: its range, its counts, and each run by fire time."""
    b = connect().request("GET", _path(backfill_id))
    emit(b, output, lambda: _show(b))


def _show(b: dict[str, Any]) -> None:
    out.print(Text.assemble(f"backfill {b['id']} of {b['workflow']} ", status_text(b["status"])))
    out.print(Text(f"  from {_local(b, b['start'])} to {_local(b, b['end'])} ({b['timezone']})"))
    out.print(Text(f"  {_progress(b).split(': ', 1)[1]}, {b['max_parallel']} at a time"))
    if b["skipped"]:
        out.print(Text(f"  skipped {len(b['skipped'])} fire time(s) that already had a run"))
    table = Table("run", "fire time", "status")
    for run in b.get("runs", []):
        table.add_row(str(run["id"]), _local(b, run["scheduled_for"]), status_text(run["status"]))
    print_table(table)


@backfills_app.command("cancel")
@api_command
def backfills_cancel(backfill_id: BackfillId, output: Output = Format.table) -> None:
    """Cancel a backfill's unfinished runs."""
    b = connect().request("POST", f"{_path(backfill_id)}/cancel")
    emit(
        b,
        output,
        lambda: out.print(Text(f"cancel requested for backfill {b['id']}: {_progress(b)}")),
    )


@backfills_app.command("retry")
@api_command
def backfills_retry(
    backfill_id: BackfillId,
    watch_: Follow = False,
    output: Output = Format.table,
) -> None:
    """Retry a backfill's failed and cancelled runs."""
    client = connect()
    b = client.request("POST", f"{_path(backfill_id)}/retry")
    emit(b, output, lambda: out.print(Text(f"retrying backfill {b['id']}: {_progress(b)}")))
    if watch_:
        code = _watch(client, b, quiet=output is not Format.table)
        if code:
            raise typer.Exit(code)
