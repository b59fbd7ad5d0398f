"""Runs with a row in every table that names a run, and files on disk, made straight in the
database at chosen ages: what retention is tested against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import (
    Artifact,
    Base,
    Channel,
    Dataset,
    DatasetLineage,
    DatasetVersion,
    Delivery,
    Event,
    Hook,
    HookDelivery,
    LogChunk,
    Metric,
    Model,
    ModelVersion,
    Run,
    TaskAttempt,
    TrackingExport,
    Workflow,
)
from plait.executors.layout import artifacts_dir, log_path

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@dataclass
class Fixtures:
    """The rows the runs' children point at (a hook, a channel, a dataset)."""

    hook_id: int
    channel_id: int
    dataset_version_id: int


async def fixtures(db: Database, workflow_id: int) -> Fixtures:
    async with db.write() as session:
        hook = Hook(public_id="p" * 20, name="h", workflow_id=workflow_id, secret="s")
        channel = Channel(name="c", kind="webhook")
        dataset = Dataset(name="d", kind="file")
        session.add_all([hook, channel, dataset])
        await session.flush()
        version = DatasetVersion(dataset_id=dataset.id, version=1, uri="s3://b/k")
        session.add(version)
        await session.flush()
        return Fixtures(hook.id, channel.id, version.id)


async def add_run(
    db: Database,
    data_dir: Path,
    fx: Fixtures,
    workflow_id: int,
    *,
    status: str = "succeeded",
    age_days: float = 40,
    started: bool = True,
    pinned: bool = False,
    model: str | None = None,
    now: datetime = NOW,
) -> int:
    """A run that ended `age_days` before NOW (or, not started, was made then), with two
    attempts, a log chunk, a metric, an artifact, a published event, a lineage row, a
    tracking export, a notification delivery, a hook delivery, a dataset version it made
    and its folders on disk; `model`: a model version was logged from it."""
    when = now - timedelta(days=age_days)
    finished = status in ("succeeded", "failed", "cancelled")
    async with db.write() as session:
        run = Run(workflow_id=workflow_id, workflow_version=1, params={}, status=status,
                  trigger="manual", pinned=pinned, created_at=when - timedelta(minutes=5),
                  started_at=when - timedelta(minutes=4) if started else None,
                  finished_at=when if finished and started else None)  # fmt: skip
        if not started:
            run.created_at = when
        session.add(run)
        await session.flush()
        await _children(session, run.id, fx, when, model)
        run_id = run.id
    for attempt in (1, 2):
        log = log_path(data_dir, run_id, "fit", attempt)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("x" * 100)
        art = artifacts_dir(data_dir, run_id, "fit", attempt) / "out.txt"
        art.parent.mkdir(parents=True, exist_ok=True)
        art.write_text("y" * 50)
    return run_id


async def _children(
    session: AsyncSession, run_id: int, fx: Fixtures, when: datetime, model: str | None
) -> None:
    session.add_all(
        [
            TaskAttempt(run_id=run_id, task_key="fit", attempt=1, status="failed", outputs={}),
            TaskAttempt(run_id=run_id, task_key="fit", attempt=2, status="succeeded", outputs={}),
            LogChunk(run_id=run_id, task_key="fit", attempt=1, start=0, data=b"hello"),
            Metric(run_id=run_id, task_key="fit", attempt=2, key="loss", value=0.1, step=1),
            Artifact(
                run_id=run_id,
                task_key="fit",
                attempt=2,
                name="out.txt",
                path=f"{run_id}/fit/2/out.txt",
                size=50,
            ),
            Event(type="run.succeeded", run_id=run_id, data={}, published_at=when),
            DatasetLineage(
                run_id=run_id,
                task_key="fit",
                attempt=2,
                dataset_version_id=fx.dataset_version_id,
                direction="input",
            ),
            TrackingExport(run_id=run_id, adapter="mlflow", status="synced", cursor={}),
            Delivery(
                channel_id=fx.channel_id,
                event_type="run.failed",
                run_id=run_id,
                payload={},
                status="sent",
            ),
            HookDelivery(hook_id=fx.hook_id, delivery_id=f"d{run_id}", run_id=run_id),
        ]
    )
    dataset = await session.scalar(select(Dataset.id).where(Dataset.name == "d"))
    made = await session.scalar(
        select(func.coalesce(func.max(DatasetVersion.version), 0)).where(
            DatasetVersion.dataset_id == dataset
        )
    )
    session.add(DatasetVersion(dataset_id=dataset, version=(made or 0) + 1, uri="s3://b/made",
                               source_run_id=run_id))  # fmt: skip
    if model is not None:
        found = await session.scalar(select(Model).where(Model.name == model))
        if found is None:
            found = Model(name=model)
            session.add(found)
            await session.flush()
        session.add(ModelVersion(model_id=found.id, version=run_id, flavor="sklearn",
                                 artifact_key=f"{run_id}/fit/2/model", run_id=run_id))  # fmt: skip


def run_columns() -> list[Column[Any]]:
    """Every column of every table that holds a run's id."""
    return [
        column
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name in ("run_id", "source_run_id") and table.name != "runs"
    ]


async def references(db: Database) -> dict[str, list[int]]:
    """For every run-id column, the run ids it holds (sorted, with repeats)."""
    out: dict[str, list[int]] = {}
    async with db.read() as session:
        for column in run_columns():
            rows = await session.execute(select(column).where(column.is_not(None)).order_by(column))
            out[f"{column.table.name}.{column.name}"] = list(rows.scalars())
    return out


async def run_ids(db: Database) -> set[int]:
    async with db.read() as session:
        return set((await session.execute(select(Run.id))).scalars())


async def row_counts(db: Database) -> dict[str, int]:
    async with db.read() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


async def workflow_id(db: Database, name: str) -> int:
    async with db.read() as session:
        found = await session.scalar(select(Workflow.id).where(Workflow.name == name))
    assert found is not None
    return found


def folders(data_dir: Path, run_id: int) -> list[Path]:
    return [p for p in (data_dir / "runs" / str(run_id), data_dir / "artifacts" / str(run_id))
            if p.exists()]  # fmt: skip
