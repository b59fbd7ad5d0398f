"""Database functions of the registry: they add and flush; the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal
from plait.db.engine import Database
from plait.db.models import Dataset, DatasetLineage, DatasetVersion, Run, Workflow
from plait.errors import Conflict, NotFound
from plait.events import outbox

Direction = Literal["read", "wrote"]
VERSION_RETRIES = 20  # a writer that lost the race for a number takes the next one


async def get_dataset(session: AsyncSession, name: str) -> Dataset:
    found = await session.scalar(select(Dataset).where(Dataset.name == name))
    if found is None:
        raise NotFound(f"no dataset named {name!r}")
    return found


async def create_dataset(
    session: AsyncSession, who: Principal | None, fields: dict[str, Any]
) -> Dataset:
    if await session.scalar(select(Dataset.id).where(Dataset.name == fields["name"])):
        raise Conflict(f"a dataset named {fields['name']!r} exists already")
    dataset = Dataset(**fields, created_by=who.id if who else None)
    session.add(dataset)
    await session.flush()
    audit.record(session, who, "dataset.created", "dataset", dataset.id, name=dataset.name)
    return dataset


async def get_version(
    session: AsyncSession, dataset: Dataset, version: int | None
) -> DatasetVersion:
    """A version by number, or the newest when `version` is None."""
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
    if version is None:
        query = query.order_by(DatasetVersion.version.desc()).limit(1)
    else:
        query = query.where(DatasetVersion.version == version)
    found = await session.scalar(query)
    if found is None:
        which = "any version" if version is None else f"version {version}"
        raise NotFound(f"dataset {dataset.name!r} has no {which}")
    return found


async def newest_versions(
    session: AsyncSession, dataset_ids: list[int]
) -> dict[int, tuple[int, DatasetVersion]]:
    """Per dataset that has versions: how many, and the newest."""
    counts = (await session.execute(
        select(DatasetVersion.dataset_id, func.count(), func.max(DatasetVersion.version))
        .where(DatasetVersion.dataset_id.in_(dataset_ids)).group_by(DatasetVersion.dataset_id)
    )).all()  # fmt: skip
    if not counts:
        return {}
    newest = await session.scalars(select(DatasetVersion).where(or_(*(
        and_(DatasetVersion.dataset_id == ds, DatasetVersion.version == top)
        for ds, _, top in counts
    ))))  # fmt: skip
    by_dataset = {v.dataset_id: v for v in newest}
    return {ds: (count, by_dataset[ds]) for ds, count, _ in counts}


@dataclass(frozen=True)
class NewVersion:
    """What a version holds; the number is given when it is added."""

    uri: str | None = None
    stored_key: str | None = None
    filename: str | None = None
    ground_truth_uri: str | None = None
    size: int | None = None
    checksum: str | None = None
    meta: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    source_run_id: int | None = None


async def add_version(
    db: Database, name: str, new: NewVersion, who: Principal | None, created_by: int | None
) -> DatasetVersion:
    """Adds the next version of dataset `name`, in a transaction of its own: when two
    writers take one number at once, the unique (dataset, version) refuses the second,
    which tries again with the next number."""
    for _ in range(VERSION_RETRIES):
        try:
            async with db.write() as session:
                dataset = await get_dataset(session, name)
                number = await session.scalar(
                    select(func.coalesce(func.max(DatasetVersion.version), 0)).where(
                        DatasetVersion.dataset_id == dataset.id
                    )
                )
                row = DatasetVersion(
                    dataset_id=dataset.id, version=int(number or 0) + 1, uri=new.uri,
                    stored_key=new.stored_key, filename=new.filename,
                    ground_truth_uri=new.ground_truth_uri, size=new.size,
                    checksum=new.checksum, meta=new.meta or {}, tags=list(new.tags),
                    created_by=created_by, source_run_id=new.source_run_id,
                )  # fmt: skip
                session.add(row)
                await session.flush()
                audit.record(session, who, "dataset.version_created", "dataset", dataset.id,
                             name=name, version=row.version)  # fmt: skip
                outbox.record(session, "dataset.version_created", run_id=new.source_run_id,
                              name=name, version=row.version, checksum=row.checksum)  # fmt: skip
                return row
        except IntegrityError:
            continue
    raise Conflict(f"dataset {name!r}: too many versions added at once; try again")


async def record_lineage(
    session: AsyncSession, run_id: int, task_key: str, attempt: int, version_id: int,
    direction: Direction,
) -> None:  # fmt: skip
    """Once per attempt, version and direction (a second read of one version adds nothing)."""
    exists = await session.scalar(
        select(DatasetLineage.id).where(
            DatasetLineage.run_id == run_id, DatasetLineage.task_key == task_key,
            DatasetLineage.attempt == attempt, DatasetLineage.dataset_version_id == version_id,
            DatasetLineage.direction == direction,
        )
    )  # fmt: skip
    if exists is None:
        session.add(DatasetLineage(run_id=run_id, task_key=task_key, attempt=attempt,
                                   dataset_version_id=version_id, direction=direction))  # fmt: skip
        await session.flush()


async def version_lineage(session: AsyncSession, version: DatasetVersion) -> list[dict[str, Any]]:
    """The attempts that read or wrote `version`, oldest first, with their run's workflow."""
    rows = await session.execute(
        select(DatasetLineage, Run.status, Workflow.name)
        .join(Run, Run.id == DatasetLineage.run_id)
        .join(Workflow, Workflow.id == Run.workflow_id)
        .where(DatasetLineage.dataset_version_id == version.id)
        .order_by(DatasetLineage.id)
    )
    return [
        {
            "run_id": link.run_id,
            "task_key": link.task_key,
            "attempt": link.attempt,
            "direction": link.direction,
            "created_at": link.created_at,
            "run_status": status,
            "workflow": workflow,
        }
        for link, status, workflow in rows
    ]


async def run_lineage(session: AsyncSession, run_id: int) -> list[dict[str, Any]]:
    """The dataset versions the run's attempts read or wrote, oldest first."""
    rows = await session.execute(
        select(DatasetLineage, DatasetVersion.version, Dataset.name, DatasetVersion.checksum)
        .join(DatasetVersion, DatasetVersion.id == DatasetLineage.dataset_version_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(DatasetLineage.run_id == run_id)
        .order_by(DatasetLineage.id)
    )
    return [
        {"dataset": name, "version": version, "checksum": checksum, "task_key": link.task_key,
         "attempt": link.attempt, "direction": link.direction, "created_at": link.created_at}
        for link, version, name, checksum in rows
    ]  # fmt: skip
