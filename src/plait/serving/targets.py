"""What a deployment should serve (a version, natively or from its ONNX export), read from
the registry's rows; and the dispatcher's handler that moves deployments following a stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import Deployment, Event, Model, ModelExport, ModelVersion
from plait.events import outbox

FILES = {"sklearn": "model.joblib", "pickle": "model.pkl", "onnx": "model.onnx"}


@dataclass(frozen=True)
class Target:
    """What a deployment should serve: a version, natively or as its ONNX export."""

    version_id: int
    model: str
    version: int
    key: str
    files: tuple[tuple[str, int, str], ...]
    flavor: str
    file: str
    signature: dict[str, Any] = field(hash=False, compare=False)
    export: str | None = None  # "onnx" when served from the export
    input: str | None = None  # the export's input name

    @property
    def ident(self) -> tuple[int, str, str | None]:
        return (self.version_id, self.key, self.export)


async def target_of(session: AsyncSession, dep: Deployment) -> tuple[Target | None, str | None]:
    """What `dep` should serve (its ONNX export when there is one), or None and why not."""
    model = await session.get(Model, dep.model_id)
    if model is None:
        return None, "its model was deleted"
    if dep.version_id is not None:
        version = await session.get(ModelVersion, dep.version_id)
    else:
        query = (
            select(ModelVersion)
            .where(ModelVersion.model_id == dep.model_id, ModelVersion.stage == dep.follow_stage)
            .order_by(ModelVersion.version.desc())
            .limit(1)
        )
        version = (await session.execute(query)).scalar_one_or_none()
    if version is None:
        return None, f"no version of model {model.name!r} is in stage {dep.follow_stage!r}"
    export = (
        await session.execute(
            select(ModelExport).where(
                ModelExport.model_version_id == version.id, ModelExport.format == "onnx"
            )
        )
    ).scalar_one_or_none()
    signature = dict(version.signature or {})
    if export is not None:
        return Target(
            version.id,
            model.name,
            version.version,
            export.stored_key,
            (("model.onnx", export.size, export.checksum),),
            "onnx",
            "model.onnx",
            signature,
            "onnx",
            (export.meta or {}).get("input"),
        ), None
    files = tuple((str(f["name"]), int(f.get("size", 0)), str(f["sha256"])) for f in version.files)
    file = FILES.get(version.flavor, "")
    return Target(
        version.id,
        model.name,
        version.version,
        version.artifact_key,
        files,
        version.flavor,
        file,
        signature,
    ), None


async def on_event(session: AsyncSession, event: Event) -> None:
    """The dispatcher's handler: a version entered a stage, so the deployments following
    that stage move to it (the supervisors hear of it on the bus and swap)."""
    if event.type != "model.stage_changed":
        return
    data = event.data or {}
    model = (
        await session.execute(select(Model).where(Model.name == str(data.get("model"))))
    ).scalar_one_or_none()
    if model is None:
        return
    query = select(Deployment).where(
        Deployment.model_id == model.id, Deployment.follow_stage == data.get("stage")
    )
    for dep in (await session.execute(query)).scalars():
        outbox.record(
            session,
            "deployment.updated",
            name=dep.name,
            status=dep.status,
            version=data.get("version"),
            stage=dep.follow_stage,
        )
