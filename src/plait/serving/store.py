"""Deployments in the database: created, changed and deleted with their audit entry and
event in the caller's transaction (the route commits)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal
from plait.db.models import Deployment, Model, ModelVersion
from plait.errors import Conflict, FieldError, InvalidInput, NotFound
from plait.events import outbox

STAGES = ("staging", "production")


async def get(session: AsyncSession, name: str) -> Deployment:
    found = (
        await session.execute(select(Deployment).where(Deployment.name == name))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no deployment named {name!r}")
    return found


async def _model(session: AsyncSession, name: str) -> Model:
    found = (await session.execute(select(Model).where(Model.name == name))).scalar_one_or_none()
    if found is None:
        raise InvalidInput([FieldError(("model",), f"no model named {name!r}", "not_found")])
    return found


async def _version(session: AsyncSession, model: Model, number: int) -> ModelVersion:
    query = select(ModelVersion).where(
        ModelVersion.model_id == model.id, ModelVersion.version == number
    )
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise InvalidInput(
            [FieldError(("version",), f"model {model.name!r} has no version {number}", "not_found")]
        )
    return found


def _one_of(version: int | None, stage: str | None) -> None:
    if (version is None) == (stage is None):
        raise InvalidInput(
            [
                FieldError(
                    ("version",),
                    "give exactly one of version (a fixed version) and stage "
                    "(follow the version in that stage)",
                    "one_of",
                )
            ]
        )


async def create(
    session: AsyncSession,
    who: Principal,
    *,
    name: str,
    model: str,
    version: int | None,
    stage: str | None,
    max_batch: int,
) -> Deployment:
    _one_of(version, stage)
    found = await _model(session, model)
    fixed = await _version(session, found, version) if version is not None else None
    dep = Deployment(
        name=name,
        model_id=found.id,
        version_id=fixed.id if fixed else None,
        follow_stage=stage,
        status="pending",
        max_batch=max_batch,
        created_by=who.id,
    )
    session.add(dep)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"a deployment named {name!r} exists already") from None
    audit.record(
        session,
        who,
        "deployment.created",
        "deployment",
        dep.id,
        name=name,
        model=model,
        version=version,
        stage=stage,
    )
    outbox.record(
        session,
        "deployment.created",
        user_id=who.id,
        name=name,
        model=model,
        version=version,
        stage=stage,
    )
    return dep


async def update(
    session: AsyncSession, who: Principal, dep: Deployment, changes: dict[str, Any]
) -> Deployment:
    if "version" in changes or "stage" in changes:
        _one_of(changes.get("version"), changes.get("stage"))
        model = await session.get(Model, dep.model_id)
        assert model is not None  # RESTRICT: a model with deployments is not deleted
        if changes.get("version") is not None:
            dep.version_id = (await _version(session, model, changes["version"])).id
            dep.follow_stage = None
        else:
            dep.version_id, dep.follow_stage = None, changes["stage"]
    if "max_batch" in changes:
        dep.max_batch = changes["max_batch"]
    await session.flush()
    audit.record(
        session,
        who,
        "deployment.updated",
        "deployment",
        dep.id,
        name=dep.name,
        **{k: v for k, v in changes.items()},
    )
    outbox.record(
        session, "deployment.updated", user_id=who.id, name=dep.name, status=dep.status, **changes
    )
    return dep


async def delete(session: AsyncSession, who: Principal, dep: Deployment) -> None:
    audit.record(session, who, "deployment.deleted", "deployment", dep.id, name=dep.name)
    outbox.record(session, "deployment.deleted", user_id=who.id, name=dep.name)
    await session.delete(dep)
    await session.flush()


async def describe(session: AsyncSession, deps: list[Deployment]) -> list[dict[str, Any]]:
    """The deployments with their model's name and version numbers (one query each kind)."""
    model_ids = {d.model_id for d in deps}
    version_ids = {v for d in deps for v in (d.version_id, d.serving_version_id) if v}
    models = {}
    if model_ids:
        rows = await session.execute(select(Model.id, Model.name).where(Model.id.in_(model_ids)))
        models = {i: n for i, n in rows.all()}
    numbers = {}
    if version_ids:
        rows = await session.execute(
            select(ModelVersion.id, ModelVersion.version).where(ModelVersion.id.in_(version_ids))
        )
        numbers = {i: n for i, n in rows.all()}
    return [
        {
            "id": d.id,
            "name": d.name,
            "model": models.get(d.model_id, ""),
            "version": numbers.get(d.version_id) if d.version_id else None,
            "stage": d.follow_stage,
            "status": d.status,
            "serving_version": numbers.get(d.serving_version_id) if d.serving_version_id else None,
            "error": d.error,
            "max_batch": d.max_batch,
            "created_at": d.created_at,
            "updated_at": d.updated_at,
        }
        for d in deps
    ]


async def signature_of(session: AsyncSession, dep: Deployment) -> dict[str, Any] | None:
    """The inputs and first sample row of the version `dep` serves (or, before it serves,
    its fixed version's)."""
    version_id = dep.serving_version_id or dep.version_id
    version = await session.get(ModelVersion, version_id) if version_id else None
    if version is None:
        return None
    signature = version.signature or {}
    sample = signature.get("sample") or []
    return {"inputs": signature.get("inputs") or [], "sample": sample[:1]}
