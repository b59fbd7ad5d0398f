"""Applying what executors report: one function for every transport.

The local executor's reports (an in-process callback) and a remote worker's (the execution
API) go through `apply_reports`; starting an attempt is a `claim` the server can refuse. This
is the single write path of the execution boundary: the scheduler holds only policy (what to
dispatch, when to give up on an attempt), and a worker never touches the database.
"""

from __future__ import annotations

import graphlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import Artifact, Event, Metric, Run, TaskAttempt
from plait.events import outbox
from plait.executors.base import Dispatch
from plait.executors.reports import (
    ArtifactReport,
    Exited,
    Heartbeat,
    LogReport,
    MetricReport,
    ModelReport,
    Output,
    ProgressReport,
    Report,
    Started,
)
from plait.models import registry as model_registry
from plait.orchestration.runs import (
    eta_seconds,
    latest_attempts,
    retry_delay,
    version_hash,
    version_spec,
)
from plait.orchestration.states import ATTEMPT_FINISHED, AttemptStatus, StaleState, transition
from plait.storage.dblogs import record_log
from plait.storage.logs import LogStore

log = logging.getLogger("plait.apply")
PROGRESS_EVENT_SECONDS = 0.5  # task.progress events of one attempt: at most ~2 a second
A = AttemptStatus
CODE_FIELD = {"python": "code", "shell": "command", "callable": "callable"}


class Plan:
    """A workflow version's tasks by key, in an order where dependencies come first."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.workflow: str = spec["name"]
        self.max_active_runs: int = spec.get("max_active_runs", 1)
        self.timezone = ZoneInfo(spec.get("timezone") or "UTC")
        self.tasks: dict[str, dict[str, Any]] = {t["key"]: t for t in spec["tasks"]}
        graph = {k: t.get("depends_on", []) for k, t in self.tasks.items()}
        self.order: list[str] = list(graphlib.TopologicalSorter(graph).static_order())


class Plans:
    """Plans by run, cached while the run is unfinished (`forget` drops one), checked against
    the run whenever the caller has it; each version's plan is cached by its content hash.
    Keyed by ids alone, a cache would outlive its rows and could hand a later run that got
    the same ids the code of a deleted one."""

    def __init__(self) -> None:
        self._specs: dict[str, Plan] = {}
        self._runs: dict[int, tuple[tuple[Any, ...], Plan]] = {}

    async def get(self, session: AsyncSession, run_id: int, run: Run | None = None) -> Plan:
        cached = self._runs.get(run_id)
        if cached is not None and (run is None or cached[0] == _identity(run)):
            return cached[1]
        if run is None:
            run = await session.get(Run, run_id)
            assert run is not None
        digest = await version_hash(session, run)
        if digest not in self._specs:
            if len(self._specs) > 1_000:
                self._specs.clear()
            self._specs[digest] = Plan(await version_spec(session, run))
        if len(self._runs) > 10_000:
            self._runs.clear()
        plan = self._specs[digest]
        self._runs[run_id] = (_identity(run), plan)
        return plan

    def forget(self, run_id: int) -> None:
        """A finished (or deleted) run needs no plan: the cache would only grow."""
        self._runs.pop(run_id, None)


def _identity(run: Run) -> tuple[Any, ...]:
    return run.workflow_id, run.workflow_version, run.created_at


@dataclass
class Applied:
    """What applying a batch changed, for the caller to act on."""

    runs: set[int] = field(default_factory=set)  # to advance: an attempt of theirs ended
    broken: list[int] = field(default_factory=list)  # reports unrecordable: fail as lost
    refused: set[int] = field(default_factory=set)  # started, but not theirs to run: stop
    final_twice: set[int] = field(default_factory=set)  # an exit for an ended attempt


@dataclass(frozen=True)
class Claim:
    ok: bool
    reason: str | None = None
    job: Dispatch | None = None


async def claim(
    db: Database, plans: Plans, attempt_id: int, worker: str, pid: int | None = None,
    **bind: Any,
) -> Claim:  # fmt: skip
    """Start an attempt, if it is still waiting to start: queued -> running, compare-and-set.
    Refused when it was cancelled, started elsewhere (a message delivered twice) or ended;
    `bind` sets further columns (the worker token that holds it)."""
    async with db.write() as session:
        attempt = await session.get(TaskAttempt, attempt_id)
        if attempt is None:
            return Claim(False, "no such attempt")
        if attempt.status != A.queued:
            return Claim(False, _not_queued(attempt))
        run = await session.get(Run, attempt.run_id)
        assert run is not None
        if run.cancel_requested_at is not None:  # the scheduler cancels it on its next look
            return Claim(False, "its run is being cancelled")
        try:
            await _start(session, plans, attempt, worker, pid, **bind)
        except StaleState:
            return Claim(False, "it was claimed meanwhile")
        job = await build_dispatch(session, plans, run, attempt)
    return Claim(True, job=job)


def _not_queued(attempt: TaskAttempt) -> str:
    if attempt.status == A.running:
        return f"it already runs on {attempt.worker or 'another worker'}"
    if attempt.status == A.pending:
        return "it was not dispatched"
    return f"it has ended ({attempt.status})"


async def build_dispatch(
    session: AsyncSession, plans: Plans, run: Run, attempt: TaskAttempt,
    latest: dict[str, TaskAttempt] | None = None,
) -> Dispatch:  # fmt: skip
    """Everything a worker needs to run the attempt: code, env, params, upstream outputs."""
    plan = await plans.get(session, run.id, run)
    task = plan.tasks[attempt.task_key]
    deps = task.get("depends_on", [])
    if latest is None and deps:
        latest = await latest_attempts(session, run.id)
    latest = latest or {}
    return Dispatch(
        attempt_id=attempt.id,
        run_id=run.id,
        workflow=plan.workflow,
        task_key=attempt.task_key,
        attempt=attempt.attempt,
        kind=task["kind"],
        body=task[CODE_FIELD[task["kind"]]],
        env=dict(task.get("env", {})),
        params=run.params,
        inputs={d: latest[d].outputs for d in deps if d in latest},
        timeout=task.get("timeout"),
        queue=task.get("queue"),
        logical_date=(run.scheduled_for or run.created_at).astimezone(plan.timezone).isoformat(),
    )


async def apply_reports(
    db: Database, plans: Plans, reports: list[Report], *, logs: LogStore | None = None
) -> Applied:
    """Apply reports in one transaction, each attempt's in a savepoint of its own: one that
    cannot be applied fails its attempt alone (`Applied.broken`), never another's reports.
    `log` reports (the local executor's) need the log store; remote workers ship their
    output to it through the execution API instead."""
    by_attempt: dict[int, list[Report]] = {}
    for report in reports:
        by_attempt.setdefault(report.attempt_id, []).append(report)
    applied = Applied()
    ctx = _Batch(plans, applied, logs)
    async with db.write() as session:
        rows = await session.execute(
            select(TaskAttempt).where(TaskAttempt.id.in_(list(by_attempt)))
        )
        attempts = {a.id: a for a in rows.scalars()}
        await _heartbeats(session, reports)
        for attempt_id, mine in by_attempt.items():
            attempt = attempts.get(attempt_id)
            if attempt is not None and not await _apply_own(session, ctx, attempt, mine):
                applied.broken.append(attempt_id)
    return applied


def lost(attempt_id: int, error: str) -> Exited:
    return Exited(attempt_id=attempt_id, exit_code=-1, reason="lost", error=error)


@dataclass
class _Batch:
    plans: Plans
    applied: Applied
    logs: LogStore | None


async def _apply_own(
    session: AsyncSession, ctx: _Batch, attempt: TaskAttempt, reports: list[Report]
) -> bool:
    attempt_id = attempt.id
    try:
        async with session.begin_nested():
            metrics: list[MetricReport] = []
            for report in reports:
                if isinstance(report, MetricReport) and attempt.status in (A.queued, A.running):
                    metrics.append(report)
                    continue
                await _add_metrics(session, attempt, metrics)  # before what came after them
                await _apply_one(session, ctx, attempt, report)
            await _add_metrics(session, attempt, metrics)
            await _progress_event(session, attempt)
    except Exception:  # isolate it: logged in full, and its attempt fails (the caller)
        log.exception("could not apply the reports of attempt %d", attempt_id)
        return False
    return True


async def _apply_one(
    session: AsyncSession, ctx: _Batch, attempt: TaskAttempt, report: Report
) -> None:
    plans, applied = ctx.plans, ctx.applied
    if attempt.status not in (A.queued, A.running):
        _settled(attempt, report, applied)
        return
    match report:
        case Started() if attempt.status == A.running:  # claimed by another worker
            applied.refused.add(attempt.id)
        case Started():
            await _start(session, plans, attempt, report.worker, report.pid)
        case Output(key=key, value=value):
            attempt.outputs = {**attempt.outputs, key: value}
        case MetricReport():
            await _add_metrics(session, attempt, [report])
        case ProgressReport():
            attempt.progress, attempt.progress_message = report.fraction, report.message
            attempt.progress_at = datetime.now(UTC)
        case LogReport():
            assert ctx.logs is not None, "log reports need the log store"
            await record_log(session, ctx.logs, attempt, report.offset, report.text)
        case ArtifactReport() | ModelReport():
            await _kept(session, attempt, report)
        case Exited():
            await _finish(session, plans, attempt, report)
            applied.runs.add(attempt.run_id)


async def _kept(
    session: AsyncSession, attempt: TaskAttempt, report: ArtifactReport | ModelReport
) -> None:
    """A file the task kept: an artifact's row, or a model version (registry.register)."""
    if isinstance(report, ModelReport):
        await model_registry.register(session, attempt, report)
        return
    session.add(Artifact(run_id=attempt.run_id, task_key=attempt.task_key,
                         attempt=attempt.attempt, name=report.name,
                         path=report.path, size=report.size))  # fmt: skip


def _settled(attempt: TaskAttempt, report: Report, applied: Applied) -> None:
    """What a lost or cancelled attempt still says changes nothing; a start of it is refused
    (its process must stop), a second exit is told to whoever sent it."""
    if isinstance(report, Started):
        applied.refused.add(attempt.id)
    elif isinstance(report, Exited) and attempt.status in ATTEMPT_FINISHED:
        applied.final_twice.add(attempt.id)


async def _start(
    session: AsyncSession, plans: Plans, attempt: TaskAttempt, worker: str, pid: int | None,
    **bind: Any,
) -> None:  # fmt: skip
    plan = await plans.get(session, attempt.run_id)
    timeout = plan.tasks[attempt.task_key].get("timeout")
    deadline = datetime.now(UTC) + timedelta(seconds=timeout) if timeout else None
    await transition(session, attempt, A.running, pid=pid, worker=worker, timeout_at=deadline,
                     **bind)  # fmt: skip


async def _finish(
    session: AsyncSession, plans: Plans, attempt: TaskAttempt, report: Exited
) -> None:
    run = await session.get(Run, attempt.run_id)
    assert run is not None
    code, reason = report.exit_code, report.reason
    fields: dict[str, Any] = {"exit_code": code, "error": report.error}
    if code == 0 and reason is None:
        if attempt.status == A.queued:  # recovered: it ran, though its start was unseen
            await transition(session, attempt, A.running)
        await transition(session, attempt, A.succeeded, **fields)
    elif reason == "cancelled" or run.cancel_requested_at is not None:
        await transition(session, attempt, A.cancelled, **fields)
    else:
        await _failed(session, plans, attempt, fields)


async def _failed(
    session: AsyncSession, plans: Plans, attempt: TaskAttempt, fields: dict[str, Any]
) -> None:
    """Failed for good, or up for retry with a new pending attempt after the delay."""
    plan = await plans.get(session, attempt.run_id)
    task = plan.tasks[attempt.task_key]
    if attempt.attempt > int(task.get("retries", 0)):
        await transition(session, attempt, A.failed, **fields)
        return
    await transition(session, attempt, A.up_for_retry, **fields)
    delay = retry_delay(task, attempt.attempt)
    session.add(
        TaskAttempt(run_id=attempt.run_id, task_key=attempt.task_key,
                    attempt=attempt.attempt + 1, status=A.pending, outputs={},
                    not_before=datetime.now(UTC) + timedelta(seconds=delay))
    )  # fmt: skip


async def _heartbeats(session: AsyncSession, reports: list[Report]) -> None:
    """All heartbeats of a batch in one statement."""
    beats = {r.attempt_id for r in reports if isinstance(r, Heartbeat)}
    if beats:
        await session.execute(
            update(TaskAttempt)
            .where(TaskAttempt.id.in_(beats), TaskAttempt.status == A.running)
            .values(heartbeat_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )


async def _progress_event(session: AsyncSession, attempt: TaskAttempt) -> None:
    """A `task.progress` event for the attempt's last progress, unless the events have told
    it already. At most one every PROGRESS_EVENT_SECONDS per attempt, however often a task
    reports; a progress held back by that goes out with the attempt's next report (its
    heartbeat at the latest), so the last value always reaches the event stream."""
    told, at = attempt.progress_event_at, attempt.progress_at
    if at is None or (told is not None and told >= at):
        return
    now = datetime.now(UTC)
    if told is not None and (now - told).total_seconds() < PROGRESS_EVENT_SECONDS:
        return
    attempt.progress_event_at = now
    run = await session.get(Run, attempt.run_id)  # in the session already, as a rule
    outbox.record(session, "task.progress", workflow_id=run.workflow_id if run else None,
                  run_id=attempt.run_id, task_key=attempt.task_key, attempt=attempt.attempt,
                  progress=attempt.progress, message=attempt.progress_message,
                  eta_seconds=eta_seconds(attempt, at))  # fmt: skip


async def _add_metrics(
    session: AsyncSession, attempt: TaskAttempt, reports: list[MetricReport]
) -> None:
    """A run of metric reports as two multi-row inserts (the points, their `metric` events)
    rather than two ORM objects each: a task logging in a loop sends thousands a batch.
    Empties `reports`."""
    if not reports:
        return
    now = datetime.now(UTC)
    run_id, task_key = attempt.run_id, attempt.task_key
    points = [
        {"run_id": run_id, "task_key": task_key, "attempt": attempt.attempt, "key": r.key,
         "value": r.value, "step": r.step,
         "created_at": datetime.fromtimestamp(r.ts, UTC) if r.ts is not None else now}
        for r in reports
    ]  # fmt: skip
    events = [  # as outbox.record writes them
        {"type": "metric", "run_id": run_id, "created_at": now,
         "data": {"task_key": task_key, "key": r.key, "value": r.value, "step": r.step}}
        for r in reports
    ]  # fmt: skip
    await session.execute(insert(Metric), points)
    await session.execute(insert(Event), events)
    reports.clear()
