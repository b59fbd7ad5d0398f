"""GET /api/v1/runs/compare: two to ten runs side by side, for the compare page and
`plait runs compare`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from plait import bounded
from plait.api import inputs
from plait.api.deps import Ctx, Viewer
from plait.api.history import Cell
from plait.api.openapi import errors
from plait.api.runs import RunOut, elapsed, run_out
from plait.orchestration import compare
from plait.orchestration.compare import MAX_POINTS, MetricSummary, TaskCell

router = APIRouter(tags=["runs"])
MIN_RUNS, MAX_RUNS = 2, 10
BY_RUN = "By run id (as text, JSON's only key type)."


class ParamRow(BaseModel):
    name: str
    values: dict[int, Any] = Field(description=f"{BY_RUN} A run without this param is left out.")
    differs: bool = Field(description="Not the same in every run (missing in one counts).")


class MetricRun(BaseModel):
    last: float = Field(description="The value logged last.")
    min: float
    max: float
    count: int = Field(description="How many values were logged.")
    series: list[tuple[int, float, datetime]] = Field(
        description="[x, value, logged at] in the order logged: x is the step, or the point's "
        f"index when it was logged without one. At most {MAX_POINTS} points: a longer series "
        "is downsampled, keeping its first and last point and the low and high of each stretch."
    )
    downsampled: bool = Field(description="The series holds fewer points than `count`.")


class MetricRow(BaseModel):
    key: str
    runs: dict[int, MetricRun] = Field(
        description=f"{BY_RUN} A run that never logged it is left out."
    )


class OutputRow(BaseModel):
    task: str
    key: str
    values: dict[int, Any] = Field(description=f"{BY_RUN} From the task's latest attempt.")
    differs: bool


class TaskRow(BaseModel):
    key: str
    runs: dict[int, Cell] = Field(description=f"{BY_RUN} A run without this task is left out.")


class Comparison(BaseModel):
    runs: list[RunOut] = Field(description="In the order asked.")
    params: list[ParamRow]
    metrics: list[MetricRow] = Field(description="By key, sorted.")
    outputs: list[OutputRow]
    tasks: list[TaskRow] = Field(description="In the workflow's order.")


IdsQuery = Annotated[
    str,
    Query(
        alias="ids",
        max_length=200,
        description=f"{MIN_RUNS} to {MAX_RUNS} run ids, comma separated.",
    ),
]


@router.get("/api/v1/runs/compare", response_model=Comparison, responses=errors(404))
async def compare_runs(ids_: IdsQuery, who: Viewer, ctx: Ctx) -> Any:
    """Runs side by side: params and task outputs (each row saying whether they differ),
    metrics (last, min, max, count and a series for charts, per run) and each task's status
    and duration. Any runs, of one workflow or several."""
    run_ids = inputs.run_ids(ids_, at_least=MIN_RUNS, at_most=MAX_RUNS)
    async with ctx.db.read() as session:
        runs = await compare.runs_named(session, run_ids)
        metrics = await compare.metrics(session, run_ids)
        tasks = await compare.tasks(session, run_ids)
    params = {run.id: bounded.prune(run.params) for run, _, _ in runs}
    return {
        "runs": [run_out(run, name, user) for run, name, user in runs],
        "params": _rows(params, "name"),
        "metrics": [{"key": key, "runs": _metric_runs(by_run)} for key, by_run in metrics.items()],
        "outputs": _outputs(tasks, run_ids),
        "tasks": [{"key": key, "runs": _cells(by_run)} for key, by_run in tasks.items()],
    }


def _rows(by_run: dict[int, dict[str, Any]], label: str) -> list[dict[str, Any]]:
    names = compare.names_in_order(by_run.values())
    return [
        {label: name, "values": values, "differs": differs}
        for name, values, differs in compare.side_by_side(names, by_run)
    ]


def _outputs(tasks: dict[str, dict[int, TaskCell]], run_ids: list[int]) -> list[dict[str, Any]]:
    rows = []
    for task, by_run in tasks.items():
        # Every run compared counts: one whose task gave no such output (or has no such
        # task) differs from one that gave it.
        outputs = {run_id: bounded.prune(by_run[run_id].outputs) if run_id in by_run else {}
                   for run_id in run_ids}  # fmt: skip
        rows += [{"task": task, **row} for row in _rows(outputs, "key")]
    return rows


def _metric_runs(by_run: dict[int, MetricSummary]) -> dict[int, dict[str, Any]]:
    return {
        run_id: {"last": m.last, "min": m.min, "max": m.max, "count": m.count,
                 "series": m.series, "downsampled": m.downsampled}
        for run_id, m in by_run.items()
    }  # fmt: skip


def _cells(by_run: dict[int, TaskCell]) -> dict[int, dict[str, Any]]:
    return {
        run_id: {"status": c.status, "attempts": c.attempts,
                 "duration": elapsed(c.started_at, c.finished_at)}
        for run_id, c in by_run.items()
    }  # fmt: skip
