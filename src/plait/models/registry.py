"""Database functions of the model registry: they add and flush; the caller owns the
transaction. A version is registered when a task's `model` report is applied (see
`register`), with the files the server hashed from the artifact store beforehand
(`stored_files`, off the writer's transaction)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal
from plait.db.models import Dataset as DatasetRow
from plait.db.models import (
    DatasetLineage,
    DatasetVersion,
    Deployment,
    Metric,
    Model,
    ModelStageChange,
    ModelVersion,
    Run,
    TaskAttempt,
    Workflow,
)
from plait.errors import Conflict, FieldError, InvalidInput, NotFound
from plait.events import outbox
from plait.executors.reports import ModelReport
from plait.storage.artifacts import ArtifactStore

log = logging.getLogger("plait.models")
STAGES = ("none", "staging", "production", "archived")
VERSION_RETRIES = 20  # a registration that lost the race for a number takes the next one
MAX_FILES = 1000  # files of one model folder


class NotAModelFolder(Exception):
    """The artifact a model report names is missing, a single file, or too many files."""


async def get_model(session: AsyncSession, name: str) -> Model:
    found = await session.scalar(select(Model).where(Model.name == name))
    if found is None:
        raise NotFound(f"no model named {name!r}")
    return found


async def get_version(session: AsyncSession, name: str, version: int) -> ModelVersion:
    model = await get_model(session, name)
    found = await session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model.id,
                                   ModelVersion.version == version)
    )  # fmt: skip
    if found is None:
        raise NotFound(f"model {name!r} has no version {version}")
    return found


async def create_model(
    session: AsyncSession, who: Principal | None, fields: dict[str, Any]
) -> Model:
    if await session.scalar(select(Model.id).where(Model.name == fields["name"])):
        raise Conflict(f"a model named {fields['name']!r} exists already")
    model = Model(**fields, created_by=who.id if who else None)
    session.add(model)
    await session.flush()
    audit.record(session, who, "model.created", "model", model.id, name=model.name)
    return model


# --- registration ----------------------------------------------------------------------------


async def stored_files(store: ArtifactStore, key: str) -> list[dict[str, Any]]:
    """The files of the model folder at `key`, each with its size and sha256, read from the
    store (streamed: the hashing runs as the chunks arrive, never the whole file in memory).
    NotAModelFolder if there is no folder there."""
    try:
        members = await store.members(key)
    except NotFound:
        raise NotAModelFolder("its folder is not in the artifact store") from None
    if members is None:
        raise NotAModelFolder("it is a single file, not a model folder")
    if "MLmodel.json" not in members:
        raise NotAModelFolder("its folder holds no MLmodel.json")
    if len(members) > MAX_FILES:
        raise NotAModelFolder(f"its folder holds more than {MAX_FILES} files")
    files = []
    for name in members:
        digest, size = hashlib.sha256(), 0
        async for chunk in store.open(f"{key}/{name}"):
            await asyncio.to_thread(digest.update, chunk)  # a large model: off the loop
            size += len(chunk)
        files.append({"name": name, "size": size, "sha256": digest.hexdigest()})
    return files


async def last_metrics(session: AsyncSession, run_id: int) -> dict[str, float]:
    """The run's last value per metric key (the newest point of each)."""
    newest = (
        select(func.max(Metric.id)).where(Metric.run_id == run_id).group_by(Metric.key)
    ).scalar_subquery()
    rows = await session.execute(select(Metric.key, Metric.value).where(Metric.id.in_(newest)))
    return {key: value for key, value in rows}


async def register(session: AsyncSession, attempt: TaskAttempt, report: ModelReport) -> None:
    """The version a `model` report stands for, once: the same report applied twice (a
    batch sent again) finds its version by its folder's key (unique), and adds nothing.
    The model is made on its first version; the number is the next free one, and a
    concurrent registration that took it makes this one try the next."""
    if report.key is None or report.files is None:
        log.warning("model %r of attempt %d reached the registry unhashed; not registered",
                    report.name, attempt.id)  # fmt: skip
        return
    if await _registered(session, report.key):
        return
    run = await session.get(Run, attempt.run_id)
    assert run is not None
    model = await _model_for(session, report, run.triggered_by)
    metrics = await last_metrics(session, run.id)
    for _ in range(VERSION_RETRIES):
        number = await session.scalar(
            select(func.coalesce(func.max(ModelVersion.version), 0)).where(
                ModelVersion.model_id == model.id
            )
        )
        row = ModelVersion(
            model_id=model.id, version=int(number or 0) + 1, flavor=report.flavor,
            artifact_key=report.key, files=[f.model_dump() for f in report.files],
            signature=report.signature.model_dump(), framework=dict(report.framework),
            params=dict(run.params), metrics=metrics, stage="none",
            description=report.description, tags=list(report.tags), run_id=run.id,
            task_key=attempt.task_key, attempt=attempt.attempt, created_by=run.triggered_by,
        )  # fmt: skip
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:  # the number was taken, or the folder registered meanwhile
            if await _registered(session, report.key):
                return
            continue
        outbox.record(session, "model.version_created", workflow_id=run.workflow_id,
                      run_id=run.id, model=model.name, version=row.version,
                      task_key=attempt.task_key)  # fmt: skip
        return
    raise Conflict(f"model {report.name!r}: too many versions registered at once")


async def _registered(session: AsyncSession, key: str) -> bool:
    """Whether the folder at `key` is a version already (its key is unique: it names the
    run, task, attempt and artifact)."""
    found = await session.scalar(select(ModelVersion.id).where(ModelVersion.artifact_key == key))
    return found is not None


async def _model_for(session: AsyncSession, report: ModelReport, creator: int | None) -> Model:
    found = await session.scalar(select(Model).where(Model.name == report.name))
    if found is not None:
        return found
    model = Model(name=report.name, description=report.description, tags=list(report.tags),
                  created_by=creator)  # fmt: skip
    try:
        async with session.begin_nested():
            session.add(model)
            await session.flush()
    except IntegrityError:  # made meanwhile by another registration
        return await get_model(session, report.name)
    return model


# --- stages ----------------------------------------------------------------------------------


def check_stage(stage: str, where: tuple[str, ...] = ("body", "stage")) -> None:
    if stage not in STAGES:
        raise InvalidInput([FieldError(where, f"must be one of {', '.join(STAGES)}")])


async def set_stage(
    session: AsyncSession, version: ModelVersion, stage: str, who: Principal | None,
    comment: str = "",
) -> None:  # fmt: skip
    """Moves `version` to `stage`. One production version per model: promoting one moves
    the previous to `archived` (a change of its own). Each change is a ModelStageChange,
    an audit entry and a `model.stage_changed` event. A version already there is left as
    it is."""
    check_stage(stage)
    # The model's row, locked (PostgreSQL) so that two promotions of one model take turns.
    model = await session.scalar(
        select(Model).where(Model.id == version.model_id).with_for_update()
    )
    assert model is not None
    if version.stage == stage:
        return
    if stage == "production":
        previous = await session.scalars(
            select(ModelVersion).where(
                ModelVersion.model_id == model.id, ModelVersion.stage == "production",
                ModelVersion.id != version.id,
            )
        )  # fmt: skip
        for old in list(previous):
            _move(session, model, old, "archived", who, f"replaced by version {version.version}")
    _move(session, model, version, stage, who, comment)
    await session.flush()


def _move(
    session: AsyncSession, model: Model, version: ModelVersion, stage: str,
    who: Principal | None, comment: str,
) -> None:  # fmt: skip
    before = version.stage
    version.stage = stage
    version.stage_changed_at = datetime.now(UTC)
    user_id = who.id if who else None
    session.add(ModelStageChange(model_version_id=version.id, from_stage=before, to_stage=stage,
                                 comment=comment, user_id=user_id))  # fmt: skip
    audit.record(session, who, "model.stage_changed", "model_version", version.id,
                 model=model.name, version=version.version, stage=stage,
                 from_stage=before)  # fmt: skip
    outbox.record(session, "model.stage_changed", run_id=version.run_id, user_id=user_id,
                  model=model.name, version=version.version, stage=stage,
                  from_stage=before)  # fmt: skip


# --- lineage and what depends on models --------------------------------------------------------


async def source_run(session: AsyncSession, version: ModelVersion) -> dict[str, Any] | None:
    if version.run_id is None:
        return None
    row = (await session.execute(
        select(Run.id, Run.status, Workflow.name).join(Workflow, Workflow.id == Run.workflow_id)
        .where(Run.id == version.run_id)
    )).first()  # fmt: skip
    if row is None:
        return None
    return {"id": row[0], "status": row[1], "workflow": row[2], "task_key": version.task_key,
            "attempt": version.attempt}  # fmt: skip


async def datasets_read(session: AsyncSession, version: ModelVersion) -> list[dict[str, Any]]:
    """The dataset versions the source run read (any of its tasks), oldest first, once each."""
    if version.run_id is None:
        return []
    rows = await session.execute(
        select(DatasetRow.name, DatasetVersion.version, DatasetVersion.checksum,
               DatasetLineage.task_key)
        .join(DatasetVersion, DatasetVersion.id == DatasetLineage.dataset_version_id)
        .join(DatasetRow, DatasetRow.id == DatasetVersion.dataset_id)
        .where(DatasetLineage.run_id == version.run_id, DatasetLineage.direction == "read")
        .order_by(DatasetLineage.id)
    )  # fmt: skip
    seen: set[tuple[str, int]] = set()
    out = []
    for name, number, checksum, task_key in rows:
        if (name, number) not in seen:
            seen.add((name, number))
            out.append({"dataset": name, "version": number, "checksum": checksum,
                        "task_key": task_key})  # fmt: skip
    return out


async def stage_history(session: AsyncSession, version: ModelVersion) -> list[dict[str, Any]]:
    from plait.db.models import User

    rows = await session.execute(
        select(ModelStageChange, User.username)
        .outerjoin(User, User.id == ModelStageChange.user_id)
        .where(ModelStageChange.model_version_id == version.id)
        .order_by(ModelStageChange.id)
    )
    return [{"from_stage": c.from_stage, "to_stage": c.to_stage, "comment": c.comment,
             "user": user, "created_at": c.created_at} for c, user in rows]  # fmt: skip


async def deployments_of(session: AsyncSession, model: Model) -> list[str]:
    return list(await session.scalars(
        select(Deployment.name).where(Deployment.model_id == model.id).order_by(Deployment.name)
    ))  # fmt: skip


async def models_from_workflow(session: AsyncSession, workflow_id: int) -> list[str]:
    """`model vN` for each model version made by one of the workflow's runs."""
    rows = await session.execute(
        select(Model.name, ModelVersion.version)
        .join(ModelVersion, ModelVersion.model_id == Model.id)
        .join(Run, Run.id == ModelVersion.run_id)
        .where(Run.workflow_id == workflow_id)
        .order_by(Model.name, ModelVersion.version)
    )
    return [f"{name} v{number}" for name, number in rows]
