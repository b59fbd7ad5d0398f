"""Runs side by side: what they were given (params), what they logged (metrics: summary and
series for charts), what their tasks answered (outputs) and how long each task took.

Every function here is one query over all the runs compared, whatever their number and the
number of metric keys or tasks: the cost of a comparison does not grow with its width.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import Metric, Run, TaskAttempt, User, Workflow
from plait.errors import NotFound

MAX_POINTS = 500  # per series sent for a chart
# A longer series is cut into this many stretches of consecutive points, and each keeps at
# most 4 of its points: its first, last, lowest and highest ("M4" downsampling). The line
# drawn from them has the shape of the whole (every spike and dip, the first and the last
# value, the series' own min and max) in at most MAX_POINTS points. Done here, in one pass
# over the points as the database gives them: window functions doing the same in SQL took
# several times longer on both databases (they sort every point, several times over).
BUCKETS = MAX_POINTS // 4

Point = tuple[
    int, float, datetime
]  # x (the step, or the index when logged without one), value, when


@dataclass
class MetricSummary:
    last: float
    min: float
    max: float
    count: int
    series: list[Point] = field(default_factory=list)

    @property
    def downsampled(self) -> bool:
        return len(self.series) < self.count


@dataclass
class TaskCell:
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    outputs: dict[str, Any]


async def runs_named(
    session: AsyncSession, run_ids: Sequence[int]
) -> list[tuple[Run, str, str | None]]:
    """The runs in the order asked, with their workflow's name and who started them; 404
    naming every id that is no run."""
    query = (
        select(Run, Workflow.name, User.username)
        .select_from(Run)
        .join(Workflow, Workflow.id == Run.workflow_id)
        .outerjoin(User, User.id == Run.triggered_by)
        .where(Run.id.in_(run_ids))
    )
    found = {run.id: (run, name, user) for run, name, user in await session.execute(query)}
    missing = [str(run_id) for run_id in run_ids if run_id not in found]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise NotFound(f"no run{plural} {', '.join(missing)}", missing=[int(m) for m in missing])
    return [found[run_id] for run_id in run_ids]


async def metrics(
    session: AsyncSession, run_ids: Sequence[int]
) -> dict[str, dict[int, MetricSummary]]:
    """By metric key then run: last (the value logged last), min, max, count, and the series."""
    out: dict[str, dict[int, MetricSummary]] = {}
    for run_id, key, count, low, high, last in await session.execute(_summaries(run_ids)):
        out.setdefault(key, {})[run_id] = MetricSummary(last, low, high, count)
    # In the order logged: SQLite reads them in its index's order, without sorting. Read in
    # one go (streaming them through the async driver took 3 times longer on SQLite): the
    # points of the runs compared are held once, briefly, as plain rows.
    query = (
        select(Metric.run_id, Metric.key, Metric.step, Metric.value, Metric.created_at)
        .where(Metric.run_id.in_(run_ids))
        .order_by(Metric.run_id, Metric.key, Metric.id)
    )
    series: Series | None = None
    for run_id, key, step, value, at in await session.execute(query):
        summary = out.get(key, {}).get(run_id)
        if summary is None:  # logged since the summaries were read (a run going on)
            continue
        if series is None or series.summary is not summary:
            if series is not None:
                series.close()
            series = Series(summary)
        series.add(step, value, at)
    if series is not None:
        series.close()
    return dict(sorted(out.items()))


def _summaries(run_ids: Sequence[int]) -> Any:
    agg = (
        select(Metric.run_id, Metric.key, func.count().label("count"),
               func.min(Metric.value).label("low"), func.max(Metric.value).label("high"),
               func.max(Metric.id).label("last_id"))
        .where(Metric.run_id.in_(run_ids))
        .group_by(Metric.run_id, Metric.key)
        .subquery()
    )  # fmt: skip
    return select(
        agg.c.run_id, agg.c.key, agg.c["count"], agg.c.low, agg.c.high, Metric.value
    ).join(Metric, Metric.id == agg.c.last_id)


class Series:
    """Fills a summary's series from its points in the order logged: every point of a short
    series; of a long one, the first, last, lowest and highest point of each of BUCKETS
    stretches of consecutive points (ties: the earliest)."""

    def __init__(self, summary: MetricSummary) -> None:
        self.summary = summary
        self.whole = summary.count <= MAX_POINTS
        self.pos = 0
        self.stretch = 0
        self.kept: dict[str, tuple[int, Point]] = {}  # first/last/low/high -> (pos, point)

    def add(self, step: int | None, value: float, at: datetime) -> None:
        if self.pos >= self.summary.count:
            return  # logged since the summary was read: the series ends where it does
        point = (self.pos if step is None else step, value, at)
        if self.whole:
            self.summary.series.append(point)
        else:
            stretch = self.pos * BUCKETS // self.summary.count
            if stretch != self.stretch:
                self._flush()
                self.stretch = stretch
            kept = self.kept
            entry = (self.pos, point)
            kept.setdefault("first", entry)
            kept["last"] = entry
            if "low" not in kept or value < kept["low"][1][1]:
                kept["low"] = entry
            if "high" not in kept or value > kept["high"][1][1]:
                kept["high"] = entry
        self.pos += 1

    def close(self) -> None:
        if not self.whole:
            self._flush()

    def _flush(self) -> None:
        self.summary.series.extend(point for _, point in sorted(set(self.kept.values())))
        self.kept = {}


async def tasks(session: AsyncSession, run_ids: Sequence[int]) -> dict[str, dict[int, TaskCell]]:
    """By task key (in the order the runs' tasks were made: the workflow's order) then run:
    the task's latest attempt and how many it had."""
    query = (
        select(TaskAttempt.run_id, TaskAttempt.task_key, TaskAttempt.attempt,
               TaskAttempt.status, TaskAttempt.started_at, TaskAttempt.finished_at,
               TaskAttempt.outputs)
        .where(TaskAttempt.run_id.in_(run_ids))
        .order_by(TaskAttempt.attempt, TaskAttempt.id)
    )  # fmt: skip
    out: dict[str, dict[int, TaskCell]] = {}
    for run_id, key, number, status, started, finished, outputs in await session.execute(query):
        # Ordered by attempt: a later attempt replaces an earlier one.
        out.setdefault(key, {})[run_id] = TaskCell(status, number, started, finished, outputs)
    return out


def side_by_side(
    names: Iterable[str], by_run: Mapping[int, Mapping[str, Any]]
) -> list[tuple[str, dict[int, Any], bool]]:
    """For each name: its value in each run that has it, and whether they differ (a run
    without it differs from one with it)."""
    rows = []
    for name in names:
        values = {run_id: got[name] for run_id, got in by_run.items() if name in got}
        seen = {_canonical(v) for v in values.values()}
        rows.append((name, values, len(seen) > 1 or len(values) < len(by_run)))
    return rows


def _canonical(value: Any) -> str:
    # JSON with sorted keys: {"a": 1, "b": 2} equals {"b": 2, "a": 1}; 1 and 1.0 and True differ.
    return json.dumps(value, sort_keys=True, default=str)


def names_in_order(dicts: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of the dicts, in the order first seen."""
    return list(dict.fromkeys(key for d in dicts for key in d))
