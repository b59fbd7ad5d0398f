"""Retention: finished runs older than their workflow's retention are removed, with every row
that names them and their files.

Which runs: finished (succeeded, failed, cancelled) before the cutoff (`finished_at`, or
`created_at` for a run that never started), where the cutoff is now minus the workflow's
`retention_days`, else PLAIT_RETENTION_DAYS (0, either way: kept for ever); never a pinned
run, never the run of a model version (the version's files are that run's artifacts).

How: batches of `retention_batch_size` runs in id order (keyset), each one short write
transaction that checks the batch again (a run retried or pinned meanwhile stays) and deletes
what names those runs table by table, children first (events, notification and hook
deliveries have no foreign key to cascade from, and the counts are what `plait db clean`
reports). A short pause between batches lets other writers in (SQLite has one). Files go
after the batch commits: a crash in between leaves folders without rows, and every pass also
removes run folders whose run no longer exists (a bounded number per pass).

Kept on purpose: dataset versions a run produced (their `source_run_id` becomes null), audit
events (the record of who did what), sweeps and backfills (their remaining runs), and other
runs that name a removed one (`rerun_of`, `upstream_run_id`: plain numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, case, delete, exists, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.db.engine import Database
from plait.db.hints import unindexed
from plait.db.models import (
    Artifact,
    DatasetLineage,
    Delivery,
    Event,
    HookDelivery,
    LogChunk,
    Metric,
    ModelVersion,
    Run,
    TaskAttempt,
    TrackingExport,
    Workflow,
)
from plait.db.types import UTCDateTime
from plait.executors.layout import remove_run_files, run_dirs
from plait.monitoring import instruments
from plait.orchestration.states import RUN_FINISHED
from plait.settings import Settings
from plait.storage import ArtifactStore, artifact_store

log = logging.getLogger("plait.retention")

LOCK_KEY = 0x706C7274  # "plrt": one retention pass at a time over a PostgreSQL database
BATCH_PAUSE_SECONDS = 0.05  # between two batches: other writers take the lock meanwhile
ORPHANS_PER_PASS = 1000  # run folders without a run removed per pass
FIRST_PASS_DELAY_SECONDS = 60.0  # after start: let the server settle first

# Every table whose rows name a run, with the column that does, removed before the run.
# (dataset_versions.source_run_id and model_versions.run_id are not here: a dataset version
# outlives its run, and a run with a model version is never removed.)
CHILDREN: tuple[tuple[str, Any], ...] = (
    ("attempts", TaskAttempt.run_id),
    ("log_chunks", LogChunk.run_id),
    ("metrics", Metric.run_id),
    ("artifacts", Artifact.run_id),
    ("events", Event.run_id),
    ("lineage", DatasetLineage.run_id),
    ("tracking_exports", TrackingExport.run_id),
    ("deliveries", Delivery.run_id),
    ("hook_deliveries", HookDelivery.run_id),
)


@dataclass
class Tally:
    """What a pass removed (or, dry, would remove), per kind."""

    runs: int = 0
    attempts: int = 0
    log_chunks: int = 0
    metrics: int = 0
    artifacts: int = 0
    events: int = 0
    lineage: int = 0
    tracking_exports: int = 0
    deliveries: int = 0
    hook_deliveries: int = 0
    orphan_folders: int = 0
    files: int = 0
    bytes: int = 0
    batches: list[float] = field(default_factory=list)  # seconds each batch's transaction took

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "batches"}

    def add(self, kind: str, n: int) -> None:
        setattr(self, kind, getattr(self, kind) + n)


@dataclass(frozen=True)
class Policy:
    """The instance's retention (days; 0 keeps for ever) as of `now`."""

    default_days: int
    now: datetime

    def cutoff(self, days: int) -> datetime:
        return self.now - timedelta(days=days)


# --- which runs --------------------------------------------------------------------------


async def _cutoff_expr(session: AsyncSession, policy: Policy) -> ColumnElement[Any] | None:
    """Per run (joined to its workflow), the instant before which it is due; None when no
    workflow removes anything. One CASE arm per distinct retention a workflow sets."""
    overrides = (
        await session.execute(
            select(Workflow.retention_days).where(Workflow.retention_days.is_not(None)).distinct()
        )
    ).scalars()
    arms: list[tuple[ColumnElement[bool], Any]] = []
    for days in sorted(d for d in overrides if d):
        arms.append((Workflow.retention_days == days, _at(policy.cutoff(days))))
    # Kept for ever: a workflow's own 0, or no retention of its own while the default is 0.
    never = _at(datetime(1, 1, 1, tzinfo=UTC))
    arms.append((Workflow.retention_days == 0, never))
    if policy.default_days == 0 and len(arms) == 1:
        return None
    default = _at(policy.cutoff(policy.default_days)) if policy.default_days else never
    return case(*arms, else_=default)


def _at(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def _keepers() -> list[ColumnElement[bool]]:
    """What every removed run must be: finished, not pinned, no model version's run.
    (Most runs are finished: looked up by status, SQLite would read them all and sort them by
    id for every batch, instead of walking the primary key.)"""
    return [
        unindexed(Run.status).in_(list(RUN_FINISHED)),
        Run.pinned.is_(False),
        ~exists().where(ModelVersion.run_id == Run.id),
    ]


async def _due_batch(
    session: AsyncSession, cutoff: ColumnElement[Any], after: int, size: int
) -> list[int]:
    """The ids of the next `size` due runs after id `after`, oldest first. The workflow's
    cutoff is a subquery per run, not a join: joined, a planner may start from the few
    workflows and read every run of each, then sort, for every batch; this way it walks the
    runs' primary key from `after` and stops at `size`."""
    ended = func.coalesce(Run.finished_at, Run.created_at)
    own_cutoff = select(cutoff).where(Workflow.id == Run.workflow_id).scalar_subquery()
    query = (
        select(Run.id)
        .where(Run.id > after, ended < own_cutoff, *_keepers())
        .order_by(Run.id)
        .limit(size)
    )
    return list((await session.execute(query)).scalars())


# --- removing rows -----------------------------------------------------------------------


def _child_filter(column: Any, run_ids: Sequence[int]) -> list[ColumnElement[bool]]:
    where = [column.in_(run_ids)]
    if column is Event.run_id:
        # An event not yet published is left to the dispatcher (it publishes it, then prunes
        # it with the other old events): taking it from under it would stall its ordering.
        where.append(Event.published_at.is_not(None))
    return where


async def count_rows(session: AsyncSession, run_ids: Sequence[int], tally: Tally) -> None:
    """Add to `tally` the rows that removing these runs would delete."""
    if not run_ids:
        return
    tally.runs += len(run_ids)
    for kind, column in CHILDREN:
        found = await session.scalar(
            select(func.count()).select_from(column.table).where(*_child_filter(column, run_ids))
        )
        tally.add(kind, found or 0)


async def delete_rows(session: AsyncSession, run_ids: Sequence[int], tally: Tally) -> None:
    """Delete these runs and every row that names them (the caller owns the transaction)."""
    if not run_ids:
        return
    for kind, column in CHILDREN:
        done = await session.execute(
            delete(column.table)
            .where(*_child_filter(column, run_ids))
            .execution_options(synchronize_session=False)
        )
        tally.add(kind, _rowcount(done))
    done = await session.execute(
        delete(Run).where(Run.id.in_(run_ids)).execution_options(synchronize_session=False)
    )
    tally.runs += _rowcount(done)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def _confirmed(db: Database, session: AsyncSession, run_ids: Sequence[int]) -> list[int]:
    """Of the batch, the runs still to remove now, inside the deleting transaction (locked
    on PostgreSQL): a run retried, pinned or given a model version meanwhile stays."""
    query = select(Run.id).where(Run.id.in_(run_ids), *_keepers()).order_by(Run.id)
    if db.dialect != "sqlite":  # SQLite: this transaction is the one writer
        query = query.with_for_update()
    return list((await session.execute(query)).scalars())


# --- files -------------------------------------------------------------------------------


def folder_usage(folders: Iterable[Path]) -> tuple[int, int]:
    """(files, bytes) under these folders, links not followed (blocking: use a thread)."""
    files = size = 0
    for folder in folders:
        for root, _dirs, names in os.walk(folder):
            for name in names:
                with contextlib.suppress(OSError):
                    size += os.lstat(os.path.join(root, name)).st_size
                    files += 1
    return files, size


def _folder_ids(data_dir: Path) -> list[int]:
    """Run ids that have folders under the data directory (blocking)."""
    found: set[int] = set()
    for top in ("runs", "artifacts"):
        with contextlib.suppress(OSError), os.scandir(data_dir / top) as entries:
            for entry in entries:
                if entry.name.isascii() and entry.name.isdigit() and entry.is_dir():
                    found.add(int(entry.name))
    return sorted(found)


async def _orphans(db: Database, data_dir: Path) -> list[int]:
    """Run folders whose run is gone (ids are never reused, so a folder whose row is missing
    belongs to a deleted run: a new run's row is committed before anything writes there)."""
    candidates = await asyncio.to_thread(_folder_ids, data_dir)
    gone: list[int] = []
    async with db.read() as session:
        for start in range(0, len(candidates), 500):
            chunk = candidates[start : start + 500]
            alive = set((await session.execute(select(Run.id).where(Run.id.in_(chunk)))).scalars())
            gone += [i for i in chunk if i not in alive]
            if len(gone) >= ORPHANS_PER_PASS:
                break
    return gone[:ORPHANS_PER_PASS]


async def remove_files(
    data_dir: Path, store: ArtifactStore, run_ids: Sequence[int], tally: Tally, *, dry: bool
) -> None:
    """Count the runs' folders (files, bytes) and, unless dry, remove them and the artifact
    store's copies (an object store's are not counted: listing them costs requests)."""
    folders = [folder for run_id in run_ids for folder in run_dirs(data_dir, run_id)]
    files, size = await asyncio.to_thread(folder_usage, folders)
    tally.files += files
    tally.bytes += size
    if dry:
        return
    await asyncio.to_thread(remove_run_files, data_dir, run_ids)
    for run_id in run_ids:
        await store.delete_run(run_id)


# --- a pass ------------------------------------------------------------------------------


async def run_pass(
    db: Database,
    settings: Settings,
    *,
    dry_run: bool = False,
    default_days: int | None = None,
    store: ArtifactStore | None = None,
    now: datetime | None = None,
) -> Tally:
    """One retention pass (or, `dry_run`, a count of what it would remove, changing
    nothing). `default_days` replaces PLAIT_RETENTION_DAYS for this pass."""
    policy = Policy(
        settings.retention_days if default_days is None else default_days, now or datetime.now(UTC)
    )
    store = store or artifact_store(settings)
    tally = Tally()
    async with db.read() as session:
        cutoff = await _cutoff_expr(session, policy)
    after = 0
    while cutoff is not None:
        async with db.read() as session:
            batch = await _due_batch(session, cutoff, after, settings.retention_batch_size)
        if not batch:
            break
        after = batch[-1]
        started = time.perf_counter()
        if dry_run:
            async with db.read() as session:
                removed = batch
                await count_rows(session, removed, tally)
        else:
            async with db.write(notify=False) as session:
                removed = await _confirmed(db, session, batch)
                await delete_rows(session, removed, tally)
        tally.batches.append(time.perf_counter() - started)
        await remove_files(settings.data_dir, store, removed, tally, dry=dry_run)
        await asyncio.sleep(BATCH_PAUSE_SECONDS)
    orphans = await _orphans(db, settings.data_dir)
    tally.orphan_folders = len(orphans)
    await remove_files(settings.data_dir, store, orphans, tally, dry=dry_run)
    if not dry_run and (tally.runs or tally.orphan_folders):
        async with db.write(notify=False) as session:
            audit.record(session, None, "retention.clean", "run", None, **tally.counts())
    return tally


async def exclusive_pass(
    db: Database, settings: Settings, *, default_days: int | None = None
) -> Tally | None:
    """A pass, unless another process runs one (PostgreSQL: an advisory lock; SQLite has one
    machine and one writer). None when it was skipped."""
    if db.dialect == "sqlite":
        return await run_pass(db, settings, default_days=default_days)
    async with db.writer.connect() as conn:
        got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})
        await conn.commit()
        if not got:
            return None
        try:
            return await run_pass(db, settings, default_days=default_days)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            await conn.commit()


def summary(tally: Tally, seconds: float) -> str:
    parts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in tally.counts().items() if v)
    return f"retention pass: removed {parts or 'nothing'} in {seconds:.1f} s"


class Retention:
    """The periodic pass, in the scheduler's process: every `retention_interval_seconds`,
    first a minute after start. One log line per pass."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="plait-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        delay = min(FIRST_PASS_DELAY_SECONDS, self.settings.retention_interval_seconds)
        while True:
            await asyncio.sleep(delay)
            delay = self.settings.retention_interval_seconds
            started = time.monotonic()
            try:
                tally = await exclusive_pass(self.db, self.settings)
            except Exception:  # the next pass tries again; nothing half-done is lost
                log.exception("retention pass failed")
                continue
            if tally is not None:
                took = time.monotonic() - started
                log.info("%s", summary(tally, took))
                instruments.retention_passes.observe(took)
                for kind, n in tally.counts().items():
                    instruments.retention_removed.labels(kind).inc(n)
