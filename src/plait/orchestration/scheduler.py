"""The scheduler: advances runs on events, not on a polling interval.

One loop per server (or per `plait scheduler` process). It holds policy only: what to
dispatch and when, when to give up on an attempt. Reports are applied by
`plait.orchestration.apply`, the one write path of every executor, local or remote. It wakes
when its executor reports, when this process's API changes a run, when the event bus brings
word of a change made by another process (a run created or cancelled, an attempt a remote
worker ended), or on its tick (cron, due retries, zombies). Each wake it does one bounded
round: a batch of the executor's reports (one transaction, each attempt's part in its own
savepoint), then a batch of the runs they or the API touched: claims ready tasks
(pending -> queued, compare-and-set), dispatches them after commit, marks tasks whose upstream
failed, and finishes runs. Rounds are small so that no kind of work starves another: under a
flood of new runs, reports still get applied between batches, and the tick still fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import Run, TaskAttempt, Workflow
from plait.executors.base import AttemptRef, Dispatch, Executor
from plait.executors.reports import Exited, Report
from plait.monitoring import instruments
from plait.orchestration import cron, groups
from plait.orchestration.apply import Plans, apply_reports, build_dispatch, lost
from plait.orchestration.runs import active_run_count, latest_attempts
from plait.orchestration.states import (
    ATTEMPT_BLOCKING,
    ATTEMPT_FINISHED,
    RUN_FINISHED,
    RUN_UNFINISHED,
    AttemptStatus,
    RunStatus,
    StaleState,
    transition,
)
from plait.settings import Settings
from plait.storage import log_store

log = logging.getLogger("plait.scheduler")
A, R = AttemptStatus, RunStatus
REPORTS_PER_ROUND = 2000  # reports applied in one transaction
RUNS_PER_ROUND = 16  # runs advanced before the next batch of reports
# Attempt events that may let a run go on (not queued/running: those never do).
WAKES = frozenset({"task.succeeded", "task.failed", "task.retrying", "task.cancelled"})


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
        self._woken_at = 0.0  # when the wake waiting now was set (monotonic)
        self._dispatched = instruments.dispatches.labels(settings.executor)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.plans = Plans()

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
        self._poke()

    def on_bus(self, messages: list[dict[str, Any]]) -> None:
        """Events from every process: a run to look at again. Its own transitions come back
        too; they cost one advance of a run already advanced, batched per round."""
        for message in messages:
            kind = str(message.get("type", ""))
            run_id = message.get("run_id")
            if isinstance(run_id, int) and (kind.startswith("run.") or kind in WAKES):
                self._dirty.add(run_id)
                self._poke()

    def _poke(self) -> None:
        if not self._wake.is_set():
            self._woken_at = time.monotonic()
        self._wake.set()

    def _on_event(self, report: Report) -> None:
        self._events.append(report)
        self._poke()

    async def _loop(self) -> None:
        next_tick = 0.0
        while not self._stopping:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel
            # that arrives as the wait ends, and then stop() would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_tick - time.monotonic())):
                    await self._wake.wait()
            due_tick = time.monotonic() >= next_tick
            self._measure_lag(next_tick if due_tick else None)
            self._wake.clear()
            try:
                if due_tick:
                    next_tick = time.monotonic() + self.settings.tick_seconds
                    await self.tick()
                await self._round()
                if self._events or self._dirty:
                    self._poke()  # more to do: next round, after a due tick if any
            except Exception:  # the loop must outlive one bad step; the next wake retries
                log.exception("scheduler step failed")
                await asyncio.sleep(self.settings.tick_seconds)

    def _measure_lag(self, tick_due: float | None) -> None:
        """How late this pass runs: after its wake was set, after its tick was due."""
        now = time.monotonic()
        if self._wake.is_set():
            instruments.scheduler_lag.labels("wake").observe(now - self._woken_at)
        if tick_due:  # 0.0: the first tick, due at start
            instruments.scheduler_lag.labels("tick").observe(now - tick_due)

    async def _submit(self, job: Dispatch) -> None:
        await self.executor.submit(job)
        self._dispatched.inc()

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
        applied = await apply_reports(self.db, self.plans, reports, logs=self.logs)
        self.settled(applied.runs)
        for attempt_id in applied.refused:  # it started, but is not ours to run any more
            await self.executor.terminate(attempt_id, "cancelled")
        if applied.broken and fail_broken:
            await self._fail_broken(applied.broken)

    def settled(self, run_ids: Iterable[int]) -> None:
        """Attempts of these runs ended: advance them, and the runs that waited for a slot."""
        run_ids = set(run_ids)
        if run_ids:
            self._dirty |= run_ids | self._starved
            self._starved.clear()
            self._poke()

    async def _fail_broken(self, attempt_ids: list[int]) -> None:
        error = "lost: Plait could not record its reports (see the server log)"
        try:
            await self._apply([lost(i, error) for i in attempt_ids], fail_broken=False)
        finally:
            for attempt_id in attempt_ids:
                await self.executor.terminate(attempt_id, "lost")

    # --- advancing a run ----------------------------------------------------------------

    async def advance(self, run_id: int) -> None:
        dispatches: list[Dispatch] = []
        stop: list[int] = []
        async with self.db.write() as session:
            run = await session.get(Run, run_id)
            if run is None or run.status in RUN_FINISHED:
                self.plans.forget(run_id)
                return
            latest = await latest_attempts(session, run_id)
            if run.cancel_requested_at is not None:
                stop = await self._cancel(session, run, latest)
            elif await self._start_run(session, run):
                dispatches = await self._dispatch_ready(session, run, latest)
                await self._finish_run(session, run, latest)
        if run.status in RUN_FINISHED:
            self.plans.forget(run_id)
        for attempt_id in stop:
            await self.executor.terminate(attempt_id, "cancelled")
        for job in dispatches:
            await self._submit(job)

    async def _start_run(self, session: AsyncSession, run: Run) -> bool:
        if run.status == R.running:
            return True
        plan = await self.plans.get(session, run.id, run)
        # The workflow's row, locked (PostgreSQL; SQLite has one writer): two schedulers
        # starting two of its runs at once would both count the same free slot.
        await session.execute(
            select(Workflow.id).where(Workflow.id == run.workflow_id).with_for_update()
        )
        if await active_run_count(session, run.workflow_id) >= plan.max_active_runs:
            return False  # stays queued; woken when one of the workflow's runs ends
        if await groups.full(session, run):
            return False  # woken when one of its group's runs ends
        try:
            await transition(session, run, R.running)
        except StaleState:  # another scheduler started (or ended) it meanwhile: go by that
            await session.refresh(run)
            return run.status == R.running
        await self._wake_queued(session, run.workflow_id)  # the next may fit a free slot too
        return True

    async def _dispatch_ready(
        self, session: AsyncSession, run: Run, latest: dict[str, TaskAttempt]
    ) -> list[Dispatch]:
        plan = await self.plans.get(session, run.id, run)
        now = datetime.now(UTC)
        free = await self.executor.capacity()
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
            jobs.append(await build_dispatch(session, self.plans, run, attempt, latest))
        return jobs

    async def _finish_run(
        self, session: AsyncSession, run: Run, latest: dict[str, TaskAttempt]
    ) -> None:
        statuses = [a.status for a in latest.values()]
        if any(s not in ATTEMPT_FINISHED for s in statuses):
            return
        done = R.succeeded if all(s == A.succeeded for s in statuses) else R.failed
        await transition(session, run, done)
        await self._ended(session, run)

    async def _cancel(
        self, session: AsyncSession, run: Run, latest: dict[str, TaskAttempt]
    ) -> list[int]:
        """Cancel what has not started; ask the executor to stop what runs; end the run when
        nothing runs any more. Returns the attempts to terminate."""
        stop = []
        for attempt in latest.values():
            if attempt.status == A.pending or (
                attempt.status == A.queued and not self.executor.holds(attempt.id)
            ):
                await transition(session, attempt, A.cancelled)
            elif attempt.status in (A.queued, A.running):
                stop.append(attempt.id)
        if not stop:
            await transition(session, run, R.cancelled)
            await self._ended(session, run)
        return stop

    async def _ended(self, session: AsyncSession, run: Run) -> None:
        """The run ended: its group (backfill, sweep) may end with it; a queued run may take
        its slot."""
        await groups.settle(session, run)
        await self._wake_queued(session, run.workflow_id)

    async def _wake_queued(self, session: AsyncSession, workflow_id: int) -> None:
        """A run of this workflow ended: its oldest queued run may take the slot, and the
        oldest of each group's (a backfill or sweep at its own limit must not hold up the others).
        Only those: waking every queued run would cost a transaction each, for one slot."""
        oldest = await session.execute(
            select(func.min(Run.id))
            .where(Run.workflow_id == workflow_id, Run.status == R.queued)
            .group_by(*groups.COLUMNS)
        )
        self._dirty.update(i for i in oldest.scalars() if i is not None)

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
        # Of the queued runs, each workflow's oldest (and each group's): the next to get a
        # slot (or, when another process queued it, to start at all).
        next_up = (
            select(func.min(Run.id))
            .where(Run.status == R.queued)
            .group_by(Run.workflow_id, *groups.COLUMNS)
        )
        cancelling = select(Run.id).where(
            Run.cancel_requested_at.is_not(None), Run.status.in_(sorted(RUN_UNFINISHED))
        )
        found: set[int] = set()
        for query in (due, next_up, cancelling):
            found.update(i for i in (await session.execute(query)).scalars() if i is not None)
        return found

    async def _sweep_zombies(self, now: datetime) -> None:
        """Attempts nobody has heard from in `zombie_seconds` are lost: retried or failed.
        Waiting reports are applied first, and an attempt this process's executor still
        runs, or whose exit waits to be applied, is never judged: its silence is the
        scheduler's, not its. How long an attempt may wait to start is the executor's to say
        (a message may wait in a broker's queue for long: that is not a lost attempt)."""
        await self._apply_waiting()
        silent = (TaskAttempt.status == A.running) & (
            TaskAttempt.heartbeat_at < now - timedelta(seconds=self.settings.zombie_seconds)
        )
        waited = self.executor.queued_timeout
        if waited is not None:
            late = now - timedelta(seconds=waited)
            silent |= (TaskAttempt.status == A.queued) & (TaskAttempt.queued_at < late)
        async with self.db.read() as session:
            found = (await session.execute(select(TaskAttempt.id).where(silent))).scalars()
            waiting = _exits(self._events)
            gone = [i for i in found if i not in waiting and not self.executor.holds(i)]
        if gone:
            log.warning("attempts %s stopped reporting; treating them as lost", gone)
            instruments.attempts_lost.labels("heartbeat").inc(len(gone))
            await self._apply([lost(i, "stopped reporting (no heartbeat)") for i in gone])

    async def _redispatch_queued(self) -> None:
        """Send again what waits to start, for an executor whose messages wait in a broker:
        a server that died between committing `queued` and sending would leave it queued for
        ever. A duplicate costs nothing: the claim refuses all but the first start."""
        jobs = []
        async with self.db.read() as session:
            rows = await session.execute(select(TaskAttempt).where(TaskAttempt.status == A.queued))
            for attempt in rows.scalars():
                run = await session.get(Run, attempt.run_id)
                if run is not None:
                    jobs.append(await build_dispatch(session, self.plans, run, attempt))
        for job in jobs:
            await self._submit(job)

    # --- recovery after a crash -----------------------------------------------------------

    async def recover(self) -> None:
        """Attempts left queued or running when this server starts: the executor settles
        those a dead process of its own left behind (finished from what they left on disk,
        or lost); the others are judged by their heartbeats, like any attempt."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(TaskAttempt).where(TaskAttempt.status.in_([A.queued, A.running]))
            )
            unsettled = [
                AttemptRef(a.id, a.run_id, a.task_key, a.attempt, a.worker) for a in rows.scalars()
            ]
            unfinished = await session.execute(
                select(Run.id).where(Run.status.in_(sorted(RUN_UNFINISHED)))
            )
            self._dirty.update(unfinished.scalars())
        if self.executor.queued_timeout is None:
            await self._redispatch_queued()
        if unsettled:
            gone = await self.executor.recover_orphans(unsettled)
            await self._apply_waiting()  # the finished ones' records and exits
            if gone:
                log.warning("attempts %s were lost with the server running them", sorted(gone))
                instruments.attempts_lost.labels("server").inc(len(gone))
                await self._apply([lost(i, "lost: the server running it stopped") for i in gone])


def _exits(reports: Iterable[Report]) -> set[int]:
    """Attempts whose exit is known but not applied yet."""
    return {r.attempt_id for r in reports if isinstance(r, Exited)}
