"""Statistics over a window of calendar days: runs by status, success rate, duration
percentiles, per task figures, failures grouped by error, and runs per day.

Everything is a SQLAlchemy Core aggregate over the runs created in the window (read from the
covering indexes `ix_runs_window` / `ix_runs_workflow_window`, migration 0017) and, for tasks,
their attempts (found by `run_id`). Percentiles are exact on both databases, computed the same
way: count the durations, then read the one or two values either side of each percentile's
position and interpolate linearly between them, as PostgreSQL's `percentile_cont` does. The
cost is a sort of the window's durations (docs/stats.md says how much).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import ceil, floor
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Float, String

from plait.db.hints import unindexed
from plait.db.models import Run, TaskAttempt, Workflow
from plait.orchestration.states import RUN_FINISHED, AttemptStatus, RunStatus

A, R = AttemptStatus, RunStatus
PERCENTILES = (0.5, 0.95)
TOP = 10  # failure groups and failing workflows shown
ERROR_CHARS = 200  # an error's first line is cut here before it is grouped
MAX_TASKS = 200  # per task rows at most (a workflow has far fewer)
# An attempt "ran to an end" when it succeeded or failed (retried or not); skipped, cancelled
# and upstream_failed attempts say nothing about the task itself.
ATTEMPT_ENDED = (A.succeeded, A.failed, A.up_for_retry)
ATTEMPT_FAILED = (A.failed, A.up_for_retry)
ACTIVE = (R.queued, R.running)  # the same two names for runs and attempts


# ---- the three expressions that differ between SQLite and PostgreSQL -------------------------


class epoch(FunctionElement[float]):
    """Seconds since 1970 of a UTC timestamp column."""

    type = Float()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps naive UTC text; julianday() reads it to ~0.1 ms, enough for durations.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch)
def _epoch_default(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


class utc_day(FunctionElement[str]):
    """The UTC calendar day of a timestamp column as 'YYYY-MM-DD'."""

    type = String()
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day)
def _day_default(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # In UTC whatever the session's time zone is.
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class first_line(FunctionElement[str]):
    """An error's first line, without surrounding blanks, cut to ERROR_CHARS ('' for none)."""

    type = String()
    inherit_cache = True


@compiles(first_line, "sqlite")
def _first_line_sqlite(element: first_line, compiler: SQLCompiler, **kw: Any) -> str:
    col = f"coalesce({compiler.process(element.clauses, **kw)}, '')"
    head = f"substr({col}, 1, instr({col} || char(10), char(10)) - 1)"
    return f"substr(trim({head}, ' ' || char(9) || char(13)), 1, {ERROR_CHARS})"


@compiles(first_line)
def _first_line_default(element: first_line, compiler: SQLCompiler, **kw: Any) -> str:
    col = f"coalesce({compiler.process(element.clauses, **kw)}, '')"
    head = f"split_part({col}, chr(10), 1)"
    return f"substr(btrim({head}, ' ' || chr(9) || chr(13)), 1, {ERROR_CHARS})"


# ---- the window ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """`days` whole UTC calendar days ending today: from midnight `days - 1` days ago."""

    days: int
    since: datetime
    now: datetime

    @classmethod
    def ending(cls, days: int, now: datetime | None = None) -> Window:
        now = now or datetime.now(UTC)
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(days, midnight - timedelta(days=days - 1), now)

    def dates(self) -> list[str]:
        return [(self.since + timedelta(days=n)).date().isoformat() for n in range(self.days)]


# ---- percentiles ----------------------------------------------------------------------------


def positions(count: int) -> set[int]:
    """The 0-based ranks whose values the percentiles of `count` sorted values need."""
    out: set[int] = set()
    for p in PERCENTILES:
        h = (count - 1) * p
        out |= {floor(h), ceil(h)}
    return out


def interpolate(count: int, values: dict[int, float]) -> dict[str, float | None]:
    """p50 and p95 from the values at `positions(count)` (linear, as percentile_cont)."""
    out: dict[str, float | None] = {}
    for p in PERCENTILES:
        name = f"p{round(p * 100)}"
        if count == 0:
            out[name] = None
            continue
        h = (count - 1) * p
        low, high = values.get(floor(h)), values.get(ceil(h))
        if low is None or high is None:  # runs changed between the count and this read
            out[name] = None
            continue
        out[name] = round(low + (h - floor(h)) * (high - low), 3)
    return out


def _duration(model: type[Run] | type[TaskAttempt]) -> ColumnElement[float]:
    return epoch(model.finished_at) - epoch(model.started_at)


def _timed(model: type[Run] | type[TaskAttempt]) -> ColumnElement[bool]:
    return and_(model.started_at.is_not(None), model.finished_at.is_not(None))


async def _ranked(
    session: AsyncSession, where: Sequence[ColumnElement[bool]], wanted: dict[str, set[int]]
) -> dict[str, dict[int, float]]:
    """Attempt durations at the wanted 0-based ranks of each task key: one query numbers each
    task's durations in order (a workflow's attempts in the window: a bounded set)."""
    if not any(wanted.values()):
        return {}
    duration = _duration(TaskAttempt)
    order = func.row_number().over(partition_by=TaskAttempt.task_key, order_by=duration)
    ranked = select(TaskAttempt.task_key.label("k"), duration.label("d"), (order - 1).label("r"))
    sub = ranked.where(*where).subquery()
    picks = [and_(sub.c.k == k, sub.c.r.in_(sorted(ranks))) for k, ranks in wanted.items() if ranks]
    out: dict[str, dict[int, float]] = {}
    for k, rank, value in await session.execute(
        select(sub.c.k, sub.c.r, sub.c.d).where(or_(*picks))
    ):
        out.setdefault(k, {})[rank] = float(value)
    return out


# ---- figures about runs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The runs created in the window, of one workflow or of all."""

    where: list[ColumnElement[bool]]

    @classmethod
    def of(cls, window: Window, workflow_id: int | None) -> Scope:
        if workflow_id is None:
            return cls([Run.created_at >= window.since])
        return cls([Run.workflow_id == workflow_id, Run.created_at >= window.since])

    def select(self, *columns: Any) -> Select[Any]:
        return select(*columns).where(*self.where)


async def _runs(
    session: AsyncSession, window: Window, scope: Scope
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Runs by status, success rate and duration percentiles of the finished runs, and runs
    per day by status: one grouped query gives both (read from the window's index)."""
    finished = Run.status.in_(list(RUN_FINISHED))
    day = utc_day(Run.created_at)
    timed_case = case((and_(finished, _timed(Run)), 1))
    query = scope.select(day, Run.status, func.count(), func.count(timed_case))
    query = query.group_by(day, Run.status)
    by_status = dict.fromkeys(map(str, RunStatus), 0)
    days = {d: dict.fromkeys(map(str, RunStatus), 0) for d in window.dates()}
    timed = 0
    for d, status, count, with_times in await session.execute(query):
        by_status[status] += count
        timed += with_times
        if d in days:  # a run created after `now` (clock skew) belongs to no bar
            days[d][status] = count
    ended = sum(by_status[s] for s in RUN_FINISHED)
    # unindexed: SQLite's planner (without ANALYZE statistics) would take ix_runs_status for
    # the status filter and read most of the table, 0.4 s instead of 0.04 s at a million runs.
    finished_only = unindexed(Run.status).in_(list(RUN_FINISHED))
    values = await _nth(session, scope, [finished_only, _timed(Run)], timed)
    runs = {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "finished": ended,
        "success_rate": _rate(by_status[R.succeeded], ended),
        "duration": interpolate(timed, values),
    }
    per_day = [{"date": d, "total": sum(c.values()), "by_status": c} for d, c in days.items()]
    return runs, per_day


async def _nth(
    session: AsyncSession, scope: Scope, where: list[ColumnElement[bool]], count: int
) -> dict[int, float]:
    """The run durations at `positions(count)`: for each percentile, one ORDER BY duration
    LIMIT 1 or 2 OFFSET k, sorted from the nearer end so the database keeps the fewest rows
    (a top-N sort of k + 2 rows), instead of numbering them all."""
    duration = _duration(Run).label("d")
    out: dict[int, float] = {}
    for p in PERCENTILES:
        low, high = floor((count - 1) * p), ceil((count - 1) * p)
        if count == 0 or (low in out and high in out):
            continue
        from_top = count - 1 - high < low
        query = (
            scope.select(duration)
            .where(*where)
            .order_by(duration.desc() if from_top else duration)
            .limit(high - low + 1)
            .offset(count - 1 - high if from_top else low)
        )
        found = [float(v) for v in (await session.execute(query)).scalars()]
        ranks = range(high, low - 1, -1) if from_top else range(low, high + 1)
        out.update(zip(ranks, found, strict=False))
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# ---- figures about tasks and errors ---------------------------------------------------------


async def _tasks(session: AsyncSession, workflow_id: int, window: Window) -> list[dict[str, Any]]:
    """Per task key: attempts, success rate, retries and attempt duration percentiles."""
    where = [*Scope.of(window, workflow_id).where, TaskAttempt.run_id == Run.id]
    ended = TaskAttempt.status.in_(list(ATTEMPT_ENDED))
    timed = and_(ended, _timed(TaskAttempt))
    query = (
        select(
            TaskAttempt.task_key,
            func.count(),
            func.count(case((TaskAttempt.status == A.succeeded, 1))),
            func.count(case((ended, 1))),
            func.count(case((TaskAttempt.attempt > 1, 1))),
            func.count(case((timed, 1))),
        )
        .where(*where)
        .group_by(TaskAttempt.task_key)
        .order_by(TaskAttempt.task_key)
        .limit(MAX_TASKS)
    )
    rows = (await session.execute(query)).all()
    wanted = {row[0]: positions(row[5]) for row in rows}
    values = await _ranked(session, [*where, timed], wanted)
    return [
        {
            "task_key": key,
            "attempts": attempts,
            "succeeded": succeeded,
            "success_rate": _rate(succeeded, ran),
            "retries": retries,
            "duration": interpolate(timed_count, values.get(key, {})),
        }
        for key, attempts, succeeded, ran, retries, timed_count in rows
    ]


async def _failures(
    session: AsyncSession, workflow_id: int, window: Window
) -> list[dict[str, Any]]:
    """Failed attempts grouped by their error's first line: the TOP most frequent, each with
    its count and the newest run that failed so."""
    error = first_line(TaskAttempt.error)
    query = (
        select(error, func.count(), func.max(TaskAttempt.run_id))
        .where(*Scope.of(window, workflow_id).where, TaskAttempt.run_id == Run.id)
        .where(TaskAttempt.status.in_(list(ATTEMPT_FAILED)))
        .group_by(error)
        .order_by(func.count().desc(), func.max(TaskAttempt.run_id).desc())
        .limit(TOP)
    )
    return [
        {"error": text, "count": count, "latest_run_id": run_id}
        for text, count, run_id in await session.execute(query)
    ]


# ---- the two answers ----------------------------------------------------------------------------


async def workflow_stats(session: AsyncSession, workflow_id: int, window: Window) -> dict[str, Any]:
    runs, per_day = await _runs(session, window, Scope.of(window, workflow_id))
    return {
        **_head(window),
        "runs": runs,
        "tasks": await _tasks(session, workflow_id, window),
        "failures": await _failures(session, workflow_id, window),
        "per_day": per_day,
    }


async def instance_stats(session: AsyncSession, window: Window) -> dict[str, Any]:
    scope = Scope.of(window, None)
    runs, per_day = await _runs(session, window, scope)
    return {
        **_head(window),
        "runs": runs,
        "active": await _active(session),
        "failing_workflows": await _failing_workflows(session, scope),
        "per_day": per_day,
    }


def _head(window: Window) -> dict[str, Any]:
    return {"days": window.days, "since": window.since, "until": window.now}


async def _active(session: AsyncSession) -> dict[str, int]:
    """Runs and attempts queued or running now (whenever they were created)."""
    out = {}
    for model, name in ((Run, "runs"), (TaskAttempt, "attempts")):
        query = select(model.status, func.count()).group_by(model.status)
        counts = dict((await session.execute(query.where(model.status.in_(ACTIVE)))).all())
        for status in ACTIVE:
            out[f"{status}_{name}"] = counts.get(status, 0)
    return out


async def _failing_workflows(session: AsyncSession, scope: Scope) -> list[dict[str, Any]]:
    """The TOP workflows by failed runs in the window, with their runs and success rate."""
    failed = func.count(case((Run.status == R.failed, 1)))
    per_workflow = (
        scope.select(Run.workflow_id, failed.label("failed"), func.count().label("runs"),
                     func.count(case((Run.status == R.succeeded, 1))).label("succeeded"),
                     func.count(case((Run.status.in_(list(RUN_FINISHED)), 1))).label("finished"))
        .group_by(Run.workflow_id)
        .having(failed > 0)
        .subquery()
    )  # fmt: skip
    query = (
        select(Workflow.id, Workflow.name, per_workflow)
        .join(per_workflow, per_workflow.c.workflow_id == Workflow.id)
        .order_by(per_workflow.c.failed.desc(), Workflow.name)
        .limit(TOP)
    )
    return [
        {"workflow_id": row.id, "name": row.name, "failed": row.failed, "runs": row.runs,
         "success_rate": _rate(row.succeeded, row.finished)}
        for row in await session.execute(query)
    ]  # fmt: skip
