"""`plait sweep NAME --grid lr=0.1,0.01` and `plait sweeps ...`: one run of a workflow per
combination of params, as a group to follow, show (with its best run) and cancel."""

from __future__ import annotations

import time
from typing import Annotated, Any

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
    param_value,
    parse_pairs,
    workflow_path,
)
from plait.cli.output import Format, Output, emit, print_table
from plait.cli.views import status_text, timestamp
from plait.cli.watch import INTERRUPTED

sweeps_app = typer.Typer(
    help="Sweeps: list, show, cancel (start one: plait sweep).", no_args_is_help=True
)
Follow = Annotated[
    bool, typer.Option("--watch", "-w", help="Follow it until it ends; exit 1 unless it succeeds.")
]
SweepId = Annotated[int, typer.Argument(min=1, help="The sweep's id.")]
POLL_SECONDS = 1.0
COUNTED = ("queued", "running", "succeeded", "failed", "cancelled")


def _path(sweep_id: int) -> str:
    return f"/api/v1/sweeps/{sweep_id}"


@api_command
def start(
    name: Annotated[str, typer.Argument(help="The workflow's name (or id).")],
    grid: Annotated[
        list[str],
        typer.Option(metavar="KEY=V1,V2", help="A param and its values; give one per param."),
    ],
    max_parallel: Annotated[int, typer.Option(min=1, max=32, help="Its runs at once.")] = 1,
    max_runs: Annotated[
        int | None, typer.Option(min=1, help="Run only the first N combinations.")
    ] = None,
    metric: Annotated[str | None, typer.Option(help="The metric that ranks its runs.")] = None,
    minimize: Annotated[bool, typer.Option("--min", help="Less of --metric is better.")] = False,
    param: Params = None,
    watch_: Follow = False,
    output: Output = Format.table,
) -> None:
    """Start one run of workflow NAME per combination of the --grid values."""
    body: dict[str, Any] = {"grid": _raw_grid(grid), "max_parallel": max_parallel,
                            "direction": "min" if minimize else "max"}  # fmt: skip
    body |= {k: v for k, v in (("max_runs", max_runs), ("metric", metric)) if v is not None}
    if param:
        body["params"] = parse_pairs(param)
    client = connect()
    sweep = client.request("POST", f"{workflow_path(name)}/sweeps", json=body)
    emit(sweep, output, lambda: _started(sweep))
    if watch_:
        code = _watch(client, sweep, quiet=output is not Format.table)
        if code:
            raise typer.Exit(code)


def _raw_grid(pairs: list[str]) -> dict[str, list[Any]]:
    # Values are split here, not by parse_pairs: "0.1,0.01" is a list, not one JSON value.
    grid: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key or not raw:
            raise typer.BadParameter(f"{pair!r} is not KEY=V1,V2,...", param_hint="'--grid'")
        if key in grid:
            raise typer.BadParameter(f"{key!r} is given twice", param_hint="'--grid'")
        grid[key] = [param_value(v) for v in raw.split(",")]
    return grid


def _started(s: dict[str, Any]) -> None:
    out.print(Text(f"started sweep {s['id']} of {s['workflow']}: {s['total']} run(s), "
                   f"{s['max_parallel']} at a time"))  # fmt: skip


def _watch(client: Client, sweep: dict[str, Any], quiet: bool) -> int:
    """Follow a sweep to its end, a line each time its counts change; the exit status."""
    said = ""
    try:
        while sweep["status"] == "running":
            time.sleep(POLL_SECONDS)
            sweep = client.request("GET", _path(sweep["id"]))
            line = _progress(sweep)
            if line != said and not quiet:
                said = line
                out.print(Text(line))
    except KeyboardInterrupt:
        err.print(f"stopped watching; sweep {sweep['id']} goes on", highlight=False)
        return INTERRUPTED
    if not quiet:
        out.print(Text.assemble(f"sweep {sweep['id']} ", status_text(sweep["status"])))
        out.print(Text(_best_line(sweep)))
    return 0 if sweep["status"] == "succeeded" else 1


def _progress(s: dict[str, Any]) -> str:
    counts = s["counts"]
    done = sum(counts.get(k, 0) for k in ("succeeded", "failed", "cancelled"))
    parts = ", ".join(f"{counts[k]} {k}" for k in COUNTED if counts.get(k))
    return f"sweep {s['id']}: {done}/{s['total']} done ({parts or 'nothing yet'})"


def _best_line(s: dict[str, Any]) -> str:
    best, metric = s.get("best"), s.get("ranked_by")
    if not metric:
        return "no metric ranks its runs: give one with --metric"
    if not best:
        return f"no run logged {metric} yet"
    value = best["metrics"][metric]
    return (
        f"best: run {best['run_id']} ({metric} {value:g}, {s['ranked_direction']}) {best['swept']}"
    )


@sweeps_app.command("list")
@api_command
def sweeps_list(
    name: Annotated[str, typer.Argument(help="The workflow's name (or id).")],
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    output: Output = Format.table,
) -> None:
    """A workflow's sweeps, newest first."""
    params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
    page = connect().request("GET", f"{workflow_path(name)}/sweeps", params=params)

    def table() -> None:
        rows = Table("id", "status", "kind", "swept", "runs", "succeeded", "failed",
                     "created (UTC)")  # fmt: skip
        for s in page["items"]:
            rows.add_row(str(s["id"]), status_text(s["status"]), s["kind"], ",".join(s["swept"]),
                         str(s["total"]), str(s["counts"].get("succeeded", 0)),
                         str(s["counts"].get("failed", 0)), timestamp(s["created_at"]))  # fmt: skip
        print_table(rows)
        if page.get("next_cursor"):
            err.print(Text(f"more: plait sweeps list {name} --cursor {page['next_cursor']}"))

    emit(page, output, table)


@sweeps_app.command("show")
@api_command
def sweeps_show(
    sweep_id: SweepId,
    metric: Annotated[str | None, typer.Option(help="Rank by this metric instead.")] = None,
    minimize: Annotated[bool, typer.Option("--min", help="Less of it is better.")] = False,
    output: Output = Format.table,
) -> None:
    """A sweep: its counts, its best run, and a row per run with its params and metrics."""
    query = {k: v for k, v in (("metric", metric), ("direction", "min" if minimize else None))
             if v is not None}  # fmt: skip
    s = connect().request("GET", _path(sweep_id), params=query)
    emit(s, output, lambda: _show(s))


def _show(s: dict[str, Any]) -> None:
    out.print(Text.assemble(f"sweep {s['id']} of {s['workflow']} ({s['kind']}) ",
                            status_text(s["status"])))  # fmt: skip
    out.print(Text(f"  {_progress(s).split(': ', 1)[1]}, {s['max_parallel']} at a time"))
    out.print(Text(f"  {_best_line(s)}"))
    best = (s.get("best") or {}).get("run_id")
    table = Table("run", *s["swept"], "status", *s["metrics"], "best")
    for row in s["rows"]:
        table.add_row(str(row["run_id"]), *(str(row["swept"].get(k)) for k in s["swept"]),
                      status_text(row["status"]),
                      *(_number(row["metrics"].get(k)) for k in s["metrics"]),
                      "best" if row["run_id"] == best else "")  # fmt: skip
    print_table(table)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@sweeps_app.command("cancel")
@api_command
def sweeps_cancel(sweep_id: SweepId, output: Output = Format.table) -> None:
    """Cancel a sweep's unfinished runs."""
    s = connect().request("POST", f"{_path(sweep_id)}/cancel")
    emit(s, output, lambda: out.print(Text(f"cancel requested for sweep {s['id']}: "
                                           f"{_progress(s)}")))  # fmt: skip
