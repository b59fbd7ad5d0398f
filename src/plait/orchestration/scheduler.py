"""The scheduler: advances runs on events, not on a polling interval.

One loop per server. It wakes when an executor reports (a task started, ended, logged), when
the API changes a run, or on its tick (cron, due retries, zombies). Each wake it does one
bounded round: a batch of the executor's reports (one transaction, each attempt's part in its
own savepoint), then a batch of the runs they or the API touched: claims ready tasks
(pending -> queued, compare-and-set), dispatches them after commit, marks tasks whose upstream
failed, and finishes runs. Rounds are small so that no kind of work starves another: under a
flood of new runs, reports still get applied between batches, and the tick still fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import graphlib
import logging
import os
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import Artifact, Metric, Run, TaskAttempt
from plait.events import outbox
from plait.executors.base import AttemptRef, Dispatch, Executor
from plait.executors.reports import (
    ArtifactReport,
    Exited,
    Heartbeat,
    LogReport,
    MetricReport,
    Output,
    Report,
    Started,
)
from plait.orchestration import cron
from plait.orchestration.runs import (
    active_run_count,
    latest_attempts,
    retry_delay,
    version_hash,
    version_spec,
)
from plait.orchestration.states import (
    ATTEMPT_BLOCKING,
    ATTEMPT_FINISHED,
    RUN_FINISHED,
    AttemptStatus,
    RunStatus,
    StaleState,
    transition,
)
from plait.settings import Settings
from plait.storage import log_store
from plait.storage.logs import record_log

log = logging.getLogger("plait.scheduler")
A, R = AttemptStatus, RunStatus
REPORTS_PER_ROUND = 2000  # reports applied in one transaction
RUNS_PER_ROUND = 16  # runs advanced before the next batch of reports


class Scheduler:
    def __init__(self, db: Database, settings: Settings, executor: Executor) -> None:
        self.db = db
        self.settings = settings
        self.executor = executor
        self.logs = log_store(settings, db)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._events: list[Report] = []
        self._dirty: set[int] = set()
        self._starved: set[int] = set()  # runs with ready tasks that found no free slot
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._specs: dict[str, _Plan] = {}  # by the version's content hash
        # by run id, so events need no lookup of the run; with what the plan was made for
        self._plans: dict[int, tuple[tuple[Any, ...], _Plan]] = {}

    async def start(self) -> None:
        await self.executor.start(self._on_event)
        await self.recover()
        self._task = asyncio.create_task(self._loop(), name="plait-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.executor.stop()

    def wake(self, run_id: int | None = None) -> None:
        if run_id is not None:
            self._dirty.add(run_id)
        self._wake.set()

    def _on_event(self, report: Report) -> None:
        self._events.append(report)
        self._wake.set()

    async def _loop(self) -> None:
        next_tick = 0.0
        while not self._stopping:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel
            # that arrives as the wait ends, and then stop() would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_tick - time.monotonic())):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.settings.tick_seconds
                    await self.tick()
                await self._round()
                if self._events or self._dirty:
                    self._wake.set()  # more to do: next round, after a due tick if any
            except Exception:  # the loop must outlive one bad step; the next wake retries
                log.exception("scheduler step failed")
                await asyncio.sleep(self.settings.tick_seconds)

    async def step(self) -> None:
        """Apply every pending report and advance every run they or the API touched, in
        bounded rounds (the loop runs one round per wake; tests call this)."""
        while self._events or self._dirty:
            await self._round()

    async def _round(self) -> None:
        """A batch of reports, then a batch of runs: neither kind of work waits for all of
        the other."""
        await self._apply_batch()
        run_ids = sorted(self._dirty)[:RUNS_PER_ROUND]
        self._dirty.difference_update(run_ids)
        for run_id in run_ids:
            await self.advance(run_id)

    # --- reports from the executor ------------------------------------------------------

    async def _apply_batch(self) -> None:
        batch = self._events[:REPORTS_PER_ROUND]
        del self._events[:REPORTS_PER_ROUND]
        try:
            await self._apply(batch)
        except BaseException:
            self._events[:0] = batch  # not applied (the database failed): kept for the retry
            raise

    async def _apply_waiting(self) -> None:
        """Apply the reports waiting now (not those that arrive meanwhile: this ends)."""
        for _ in range(-(-len(self._events) // REPORTS_PER_ROUND)):
            await self._apply_batch()

    async def _apply(self, reports: list[Report], fail_broken: bool = True) -> None:
        """Apply reports in one transaction, each attempt's in a savepoint of its own: one
        that cannot be applied fails its attempt alone, never another's reports."""
        by_attempt: dict[int, list[Report]] = {}
        for report in reports:
            by_attempt.setdefault(report.attempt_id, []).append(report)
        broken: list[int] = []
        async with self.db.write() as session:
            rows = await session.execute(
                select(TaskAttempt).where(TaskAttempt.id.in_(list(by_attempt)))
            )
            attempts = {a.id: a for a in rows.scalars()}
            await _heartbeats(session, reports)
            for attempt_id, mine in by_attempt.items():
                attempt = attempts.get(attempt_id)
                if attempt is not None and not await self._apply_own(session, attempt, mine):
                    broken.append(attempt_id)
        if broken and fail_broken:
            await self._fail_broken(broken)

    async def _apply_own(
        self, session: AsyncSession, attempt: TaskAttempt, reports: list[Report]
    ) -> bool:
        attempt_id = attempt.id
        try:
            async with session.begin_nested():
                for report in reports:
                    await self._apply_one(session, attempt, report)
        except Exception:  # isolate it: logged in full, and its attempt fails (below)
            log.exception("could not apply the reports of attempt %d", attempt_id)
            return False
        return True

    async def _fail_broken(self, attempt_ids: list[int]) -> None:
        error = "lost: Plait could not record its reports (see the server log)"
        try:
            await self._apply([_lost(i, error) for i in attempt_ids], fail_broken=False)
        finally:
            for attempt_id in attempt_ids:
                await self.executor.terminate(attempt_id, "lost")

    async def _apply_one(self, session: AsyncSession, attempt: TaskAttempt, report: Report) -> None:
        if attempt.status not in (A.queued, A.running):
            return  # settled: what a lost or cancelled attempt still says changes nothing
        match report:
            case Started() if attempt.status == A.queued:
                await self._started(session, attempt, report)
            case Output(key=key, value=value):
                attempt.outputs = {**attempt.outputs, key: value}
            case MetricReport():
                _add_metric(session, attempt, report)
            case LogReport():
                await record_log(session, self.logs, attempt, report.offset, report.text)
            case ArtifactReport():
                session.add(Artifact(run_id=attempt.run_id, task_key=attempt.task_key,
                                     attempt=attempt.attempt, name=report.name,
                                     path=report.path, size=report.size))  # fmt: skip
            case Exited():
                await self._finish(session, attempt, report)

    async def _started(self, session: AsyncSession, attempt: TaskAttempt, report: Started) -> None:
        plan = await self._plan_for(session, attempt.run_id)
        timeout = plan.tasks[attempt.task_key].get("timeout")
        deadline = datetime.now(UTC) + timedelta(seconds=timeout) if timeout else None
        await transition(session, attempt, A.running, pid=report.pid, worker=report.worker,
                         timeout_at=deadline)  # fmt: skip

    async def _finish(self, session: AsyncSession, attempt: TaskAttempt, report: Exited) -> None:
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
            await self._failed(session, attempt, fields)
        self._dirty.add(attempt.run_id)
        self._dirty |= self._starved
        self._starved.clear()

    async def _failed(
        self, session: AsyncSession, attempt: TaskAttempt, fields: dict[str, Any]
    ) -> None:
        """Failed for good, or up for retry with a new pending attempt after the delay."""
        plan = await self._plan_for(session, attempt.run_id)
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

    # --- advancing a run ----------------------------------------------------------------

    async def advance(self, run_id: int) -> None:
        dispatches: list[Dispatch] = []
        stop: list[int] = []
        async with self.db.write() as session:
            run = await session.get(Run, run_id)
            if run is None or run.status in RUN_FINISHED:
                self._forget(run_id)
                return
            latest = await latest_attempts(session, run_id)
            if run.cancel_requested_at is not None:
                stop = await self._cancel(session, run, latest)
            elif await self._start_run(session, run):
                dispatches = await self._dispatch_ready(session, run, latest)
                await self._finish_run(session, run, latest)
        if run.status in RUN_FINISHED:
            self._forget(run_id)
        for attempt_id in stop:
            await self.executor.terminate(attempt_id, "cancelled")
        for job in dispatches:
            await self.executor.submit(job)

    async def _start_run(self, session: AsyncSession, run: Run) -> bool:
        if run.status == R.running:
            return True
        plan = await self._plan_for(session, run.id, run)
        if await active_run_count(session, run.workflow_id) >= plan.max_active_runs:
            return False  # stays queued; woken when one of the workflow's runs ends
        await transition(session, run, R.running)
        await self._wake_queued(session, run.workflow_id)  # the next may fit a free slot too
        return True

    async def _dispatch_ready(
        self, session: AsyncSession, run: Run, latest: dict[str, TaskAttempt]
    ) -> list[Dispatch]:
        plan = await self._plan_for(session, run.id, run)
        now = datetime.now(UTC)
        free = self.settings.max_parallel_tasks - len(self.executor.active())
        ready: list[TaskAttempt] = []
        for key in plan.order:
            attempt = latest.get(key)
            if attempt is None or attempt.status != A.pending:
                continue
            deps = [latest[d].status for d in plan.tasks[key].get("depends_on", []) if d in latest]
            if any(s in ATTEMPT_BLOCKING for s in deps):
                await transition(session, attempt, A.upstream_failed)
            elif all(s == A.succeeded for s in deps) and (
                attempt.not_before is None or attempt.not_before <= now
            ):
                ready.append(attempt)
        if len(ready) > free:
            self._starved.add(run.id)
        jobs = []
        for attempt in ready[: max(0, free)]:
            try:
                await transition(session, attempt, A.queued, worker=self.worker)
            except StaleState:
                continue  # another scheduler claimed it
            jobs.append(self._job(run, plan, attempt, latest))
        return jobs

    def _job(
        self, run: Run, plan: _Plan, attempt: TaskAttempt, latest: dict[str, TaskAttempt]
    ) -> Dispatch:
        task = plan.tasks[attempt.task_key]
        kind = task["kind"]
        return Dispatch(
            attempt_id=attempt.id,
            run_id=run.id,
            workflow=plan.workflow,
            task_key=attempt.task_key,
            attempt=attempt.attempt,
            kind=kind,
            body=task[{"python": "code", "shell": "command", "callable": "callable"}[kind]],
            env=dict(task.get("env", {})),
            params=run.params,
            inputs={d: latest[d].outputs for d in task.get("depends_on", []) if d in latest},
            timeout=task.get("timeout"),
            queue=task.get("queue"),
        )

    async def _finish_run(
        self, session: AsyncSession, run: Run, latest: dict[str, TaskAttempt]
    ) -> None:
        statuses = [a.status for a in latest.values()]
        if any(s not in ATTEMPT_FINISHED for s in statuses):
            return
        done = R.succeeded if all(s == A.succeeded for s in statuses) else R.failed
        await transition(session, run, done)
        await self._wake_queued(session, run.workflow_id)

    async def _cancel(
        self, session: AsyncSession, run: Run, latest: dict[str, TaskAttempt]
    ) -> list[int]:
        """Cancel what has not started; ask the executor to stop what runs; end the run when
        nothing runs any more. Returns the attempts to terminate."""
        mine = self.executor.active()
        stop = []
        for attempt in latest.values():
            if attempt.status == A.pending or (
                attempt.status == A.queued and attempt.id not in mine
            ):
                await transition(session, attempt, A.cancelled)
            elif attempt.status in (A.queued, A.running):
                stop.append(attempt.id)
        if not stop:
            await transition(session, run, R.cancelled)
            await self._wake_queued(session, run.workflow_id)
        return stop

    async def _wake_queued(self, session: AsyncSession, workflow_id: int) -> None:
        """A run of this workflow ended: its oldest queued run may take the slot (only that
        one: waking every queued run would cost a transaction each, for one slot)."""
        oldest = await session.scalar(
            select(Run.id)
            .where(Run.workflow_id == workflow_id, Run.status == R.queued)
            .order_by(Run.id)
            .limit(1)
        )
        if oldest is not None:
            self._dirty.add(oldest)

    # --- the tick: cron, due retries, zombies ----------------------------------------------

    async def tick(self) -> None:
        now = datetime.now(UTC)
        async with self.db.write() as session:
            self._dirty.update(await cron.fire_due(session, now))
        async with self.db.read() as session:
            self._dirty.update(await self._runs_needing_attention(session, now))
        await self._sweep_zombies(now)

    async def _runs_needing_attention(self, session: AsyncSession, now: datetime) -> set[int]:
        due = select(TaskAttempt.run_id).where(
            TaskAttempt.status == A.pending, TaskAttempt.not_before <= now
        )
        # Of the queued runs, each workflow's oldest: the next to get a slot (or, when another
        # process queued it, to start at all).
        next_up = select(func.min(Run.id)).where(Run.status == R.queued).group_by(Run.workflow_id)
        cancelling = select(Run.id).where(
            Run.cancel_requested_at.is_not(None), Run.status.not_in(list(RUN_FINISHED))
        )
        found: set[int] = set()
        for query in (due, next_up, cancelling):
            found.update(i for i in (await session.execute(query)).scalars() if i is not None)
        return found

    async def _sweep_zombies(self, now: datetime) -> None:
        """Attempts nobody has heard from in `zombie_seconds` are lost: retried or failed.
        Waiting reports are applied first, and an attempt the executor still runs, or whose
        exit waits to be applied, is never judged: its silence is the scheduler's, not its."""
        await self._apply_waiting()
        cutoff = now - timedelta(seconds=self.settings.zombie_seconds)
        async with self.db.read() as session:
            silent = await session.execute(
                select(TaskAttempt.id).where(
                    ((TaskAttempt.status == A.running) & (TaskAttempt.heartbeat_at < cutoff))
                    | ((TaskAttempt.status == A.queued) & (TaskAttempt.queued_at < cutoff))
                )
            )
            known = self.executor.active() | _exits(self._events)
            lost = [i for i in silent.scalars() if i not in known]
        if lost:
            log.warning("attempts %s stopped reporting; treating them as lost", lost)
            await self._apply([_lost(i, "stopped reporting (no heartbeat)") for i in lost])

    # --- recovery after a crash -----------------------------------------------------------

    async def recover(self) -> None:
        """Attempts a dead server on this host left queued or running: those whose exit was
        recorded are finished from what they left on disk (their work is not redone); the
        others are lost: the executor kills what is left of their processes, and they are
        retried or failed like any other failure."""
        host = socket.gethostname()
        async with self.db.read() as session:
            rows = await session.execute(
                select(TaskAttempt).where(TaskAttempt.status.in_([A.queued, A.running]))
            )
            orphaned = [a for a in rows.scalars() if _dead_local_worker(a.worker, host)]
            unfinished = await session.execute(
                select(Run.id).where(Run.status.not_in(list(RUN_FINISHED)))
            )
            self._dirty.update(unfinished.scalars())
        if orphaned:
            log.warning("recovering attempts %s left by a server that stopped",
                        [a.id for a in orphaned])  # fmt: skip
            lost = await self.executor.recover_orphans(
                [AttemptRef(a.id, a.run_id, a.task_key, a.attempt) for a in orphaned]
            )
            await self._apply_waiting()  # the finished ones' records and exits
            if lost:
                await self._apply([_lost(i, "lost: the server running it stopped") for i in lost])

    # --- plans: a version's tasks in dependency order, cached ------------------------------

    async def _plan_for(self, session: AsyncSession, run_id: int, run: Run | None = None) -> _Plan:
        """The run's plan, cached by run id while the run is unfinished (`advance` drops it)
        and checked against the run whenever the caller has it; each version's plan is cached
        by its content hash. Keyed by ids alone, a cache would outlive its rows and could hand
        a later run that got the same ids the code of a deleted one."""
        cached = self._plans.get(run_id)
        if cached is not None and (run is None or cached[0] == _identity(run)):
            return cached[1]
        if run is None:
            run = await session.get(Run, run_id)
            assert run is not None
        digest = await version_hash(session, run)
        if digest not in self._specs:
            if len(self._specs) > 1_000:
                self._specs.clear()
            self._specs[digest] = _Plan(await version_spec(session, run))
        if len(self._plans) > 10_000:
            self._plans.clear()
        plan = self._specs[digest]
        self._plans[run_id] = (_identity(run), plan)
        return plan

    def _forget(self, run_id: int) -> None:
        """A finished (or deleted) run needs no plan: the cache would only grow."""
        self._plans.pop(run_id, None)


class _Plan:
    """A workflow version's tasks by key, in an order where dependencies come first."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.workflow: str = spec["name"]
        self.max_active_runs: int = spec.get("max_active_runs", 1)
        self.tasks: dict[str, dict[str, Any]] = {t["key"]: t for t in spec["tasks"]}
        graph = {k: t.get("depends_on", []) for k, t in self.tasks.items()}
        self.order: list[str] = list(graphlib.TopologicalSorter(graph).static_order())


def _identity(run: Run) -> tuple[Any, ...]:
    return run.workflow_id, run.workflow_version, run.created_at


def _lost(attempt_id: int, error: str) -> Exited:
    return Exited(attempt_id=attempt_id, exit_code=-1, reason="lost", error=error)


def _exits(reports: Iterable[Report]) -> set[int]:
    """Attempts whose exit is known but not applied yet."""
    return {r.attempt_id for r in reports if isinstance(r, Exited)}


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


def _add_metric(session: AsyncSession, attempt: TaskAttempt, report: MetricReport) -> None:
    when = datetime.fromtimestamp(report.ts, UTC) if report.ts is not None else datetime.now(UTC)
    session.add(Metric(run_id=attempt.run_id, task_key=attempt.task_key, attempt=attempt.attempt,
                       key=report.key, value=report.value, step=report.step,
                       created_at=when))  # fmt: skip
    outbox.record(session, "metric", run_id=attempt.run_id, task_key=attempt.task_key,
                  key=report.key, value=report.value, step=report.step)  # fmt: skip


def _dead_local_worker(worker: str | None, host: str) -> bool:
    if worker is None:
        return True
    worker_host, _, pid = worker.rpartition(":")
    if worker_host != host or not pid.isdigit():
        return False  # another machine's: the zombie sweep decides by heartbeat
    return int(pid) == os.getpid() or not os.path.exists(f"/proc/{pid}")
