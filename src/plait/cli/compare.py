"""`plait runs compare 1 2 ...` (wired in main): runs side by side, their params with the
differences marked, then each metric's last, min and max per run."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.common import api_command, connect, out
from plait.cli.output import Format, Output, emit, print_table

RunIds = Annotated[list[int], typer.Argument(min=1, help="2 to 10 run ids.", show_default=False)]
DIFFERS = "≠ differs"


@api_command
def runs_compare(run_ids: RunIds, output: Output = Format.table) -> None:
    """Runs side by side: params (rows that differ marked), then the metrics table. The
    whole comparison (outputs, task durations, metric series) with -o json or yaml."""
    ids = ",".join(str(run_id) for run_id in run_ids)
    comparison = connect().request("GET", "/api/v1/runs/compare", params={"ids": ids})
    emit(comparison, output, lambda: _tables(comparison))


def _tables(comparison: dict[str, Any]) -> None:
    columns = [f"#{run['id']}" for run in comparison["runs"]]
    _params_table(comparison["params"], comparison["runs"], columns)
    out.print()
    _metrics_table(comparison["metrics"], comparison["runs"])


def _params_table(
    params: list[dict[str, Any]], runs: list[dict[str, Any]], columns: list[str]
) -> None:
    table = Table("param", *columns, "same?", title="params")
    for row in params:
        cells = [_value(row["values"], run["id"]) for run in runs]
        style = "bold yellow" if row["differs"] else ""
        table.add_row(Text(row["name"], style=style), *cells,
                      Text(DIFFERS, style=style) if row["differs"] else "same")  # fmt: skip
    if not params:
        table.add_row("(none)", *["" for _ in columns], "")
    print_table(table)


def _metrics_table(metrics: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    table = Table("metric", "run", title="metrics")
    for name in ("last", "min", "max", "count"):
        table.add_column(name, justify="right")
    for metric in metrics:
        for run in runs:
            got = metric["runs"].get(str(run["id"]))
            if got is not None:
                numbers = [f"{got[name]:g}" for name in ("last", "min", "max")]
                table.add_row(Text(metric["key"]), f"#{run['id']}", *numbers, str(got["count"]))
    if not metrics:
        table.add_row("(none)", "", "", "", "", "")
    print_table(table)


def _value(values: dict[str, Any], run_id: int) -> Text:
    if str(run_id) not in values:
        return Text("-", style="dim")  # the run has no such param
    value = values[str(run_id)]
    if isinstance(value, str):
        return Text(value)
    if isinstance(value, float):
        return Text(f"{value:g}")
    return Text(json.dumps(value, ensure_ascii=False))
