"""A model version's exports under /api/v1/models/{model}/versions/{version}: editors convert
a version to ONNX (the request waits for the conversion, up to PLAIT_EXPORT_TIMEOUT), viewers
list exports, download the ONNX file and the standalone package (model.onnx, signature.json,
predict.py, requirements.txt, README.md)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plait import audit
from plait.api.deps import Context, Ctx, Editor, Viewer
from plait.api.inputs import Digits
from plait.api.openapi import errors
from plait.auth.roles import Principal
from plait.db.models import ModelExport, ModelVersion, User
from plait.db.types import utcnow
from plait.errors import Conflict, NotFound
from plait.events import outbox
from plait.models import export, package, registry
from plait.workflows.spec import NAME_MAX, NAME_PATTERN

router = APIRouter(tags=["models"])
ModelName = Annotated[
    str, Path(alias="model", max_length=NAME_MAX, pattern=NAME_PATTERN, description="Its name.")
]
VersionNo = Annotated[int, Path(ge=1, le=2**31 - 1), Digits]
FormatName = Annotated[str, Path(alias="format", max_length=32, description="onnx",
                                 json_schema_extra={"enum": list(export.FORMATS)})]  # fmt: skip
VERSION = "/api/v1/models/{model}/versions/{version}"


class ExportRequest(BaseModel):
    model_config = {"extra": "forbid"}

    format: str = Field(default="onnx", max_length=32, description="onnx (the only one today).",
                        json_schema_extra={"enum": list(export.FORMATS)})  # fmt: skip
    replace: bool = Field(default=False, description="Convert again over an existing export.")


class ModelExportOut(BaseModel):
    model: str
    version: int
    format: str
    size: int = Field(description="Bytes of model.onnx.")
    sha256: str = Field(description="sha256 of model.onnx, hex.")
    max_abs_diff: float | None = Field(
        description="Largest absolute difference from the original model's outputs (labels "
        "and, for classifiers, probabilities) on the signature's sample."
    )
    within_tolerance: bool = Field(description="max_abs_diff <= PLAIT_EXPORT_TOLERANCE.")
    message: str = Field(description="What a person should know of this export.")
    meta: dict[str, Any] = Field(description="opset, input, columns, outputs, converter, ...")
    created_by: str | None
    created_at: datetime
    download: str = Field(description="Where model.onnx is downloaded.")
    package: str = Field(description="Where the standalone package (a zip) is downloaded.")


def export_out(name: str, version: int, row: ModelExport, creator: str | None) -> dict[str, Any]:
    within = bool(row.meta.get("within_tolerance"))
    diff = row.max_abs_diff
    tolerance = row.meta.get("tolerance")
    if diff is None:
        message = "Converted, but not compared with the original: check it before serving it"
    elif within:
        message = f"Converted to {row.format.upper()}; largest difference on the sample {diff:.3g}"
    else:
        message = (
            f"Converted, but its outputs differ from the original's by {diff:.3g} on the "
            f"sample, more than the tolerance {tolerance}: check it before serving it"
        )
    base = f"{VERSION.format(model=name, version=version)}"
    return {"model": name, "version": version, "format": row.format, "size": row.size,
            "sha256": row.checksum, "max_abs_diff": diff, "within_tolerance": within,
            "message": message, "meta": row.meta, "created_by": creator,
            "created_at": row.created_at, "download": f"{base}/exports/{row.format}/download",
            "package": f"{base}/package"}  # fmt: skip


async def _creator(session: Any, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    found: str | None = await session.scalar(select(User.username).where(User.id == user_id))
    return found


@router.post(VERSION + "/export", status_code=status.HTTP_201_CREATED,
             response_model=ModelExportOut,
             responses={200: {"description": "The existing export (no `replace`)."},
                        **errors(409, 503)})  # fmt: skip
async def export_version(
    name: ModelName, version: VersionNo, body: ExportRequest, who: Editor, ctx: Ctx,
    response: Response,
) -> Any:  # fmt: skip
    """Converts the version to ONNX with skl2onnx in a sandboxed process and checks it against
    the original on the signature's sample: 201 with the export. An existing export of the
    format is returned as it is (200) unless `replace` is true. A model that fails to load or
    that skl2onnx cannot convert: 422 with the reason (and the supported model families); a
    version that is already ONNX: 409."""
    fmt = export.check_format(body.format)
    async with ctx.db.read() as session:
        row = await registry.get_version(session, name, version)
        existing = await export.find_export(session, row, fmt)
        if existing is not None and not body.replace:
            response.status_code = status.HTTP_200_OK
            return export_out(name, version, existing, await _creator(session, existing.created_by))
    export.check_exportable(row)
    converted = await export.convert(ctx.settings, ctx.artifacts, row)
    try:
        key = await export.keep(ctx.artifacts, row, converted, fmt)
    finally:
        await asyncio.to_thread(export.discard, converted.folder)
    saved, created = await _save(ctx, who, name, row, fmt, key, converted, body.replace)
    if created:
        return export_out(name, version, saved, who.username)
    response.status_code = status.HTTP_200_OK  # another request's conversion was kept first
    async with ctx.db.read() as session:
        return export_out(name, version, saved, await _creator(session, saved.created_by))


async def _save(ctx: Context, who: Principal, name: str, version: ModelVersion, fmt: str,
                key: str, converted: export.Converted, replace: bool,
                ) -> tuple[ModelExport, bool]:  # fmt: skip
    diff = converted.meta["max_abs_diff"]
    within = export.within_tolerance(ctx.settings, diff)
    meta = {**converted.meta, "files": converted.files, "within_tolerance": within,
            "tolerance": ctx.settings.export_tolerance}  # fmt: skip
    try:
        async with ctx.db.write() as session:
            row = await export.find_export(session, version, fmt)
            if row is not None and not replace:  # another request converted it meanwhile
                return row, False
            if row is None:
                row = ModelExport(model_version_id=version.id, format=fmt)
                session.add(row)
            row.stored_key, row.size, row.checksum = key, converted.size, converted.sha256
            row.max_abs_diff, row.meta, row.created_by = diff, meta, who.id
            row.created_at = utcnow()
            audit.record(session, who, "model.exported", "model_version", version.id,
                         model=name, version=version.version, format=fmt, max_abs_diff=diff,
                         within_tolerance=within)  # fmt: skip
            outbox.record(session, "model.exported", user_id=who.id, model=name,
                          version=version.version, format=fmt, max_abs_diff=diff)  # fmt: skip
            await session.flush()
            return row, True
    except IntegrityError:  # a concurrent first export of the same format won
        async with ctx.db.read() as session:
            found = await export.find_export(session, version, fmt)
        if found is None:
            raise
        return found, False


@router.get(VERSION + "/exports", response_model=list[ModelExportOut])
async def list_exports(name: ModelName, version: VersionNo, who: Viewer, ctx: Ctx) -> Any:
    """The version's exports (one per format)."""
    async with ctx.db.read() as session:
        row = await registry.get_version(session, name, version)
        found = (await session.execute(
            select(ModelExport, User.username).outerjoin(User, User.id == ModelExport.created_by)
            .where(ModelExport.model_version_id == row.id).order_by(ModelExport.format)
        )).all()  # fmt: skip
    return [export_out(name, version, e, creator) for e, creator in found]


async def _export_of(ctx: Context, name: str, version: int, fmt: str) -> ModelExport:
    async with ctx.db.read() as session:
        row = await registry.get_version(session, name, version)
        found = await export.find_export(session, row, fmt)
    if found is None:
        raise NotFound(f"version {version} of {name!r} has no {fmt} export: export it first")
    return found


@router.get(
    VERSION + "/exports/{format}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **errors(409)},
)
async def download_export(
    name: ModelName, version: VersionNo, fmt: FormatName, who: Viewer, ctx: Ctx
) -> Response:
    """model.onnx of the export, checked against its recorded sha256 first (409 if it
    changed)."""
    row = await _export_of(ctx, name, version, fmt)
    folder = await export.local_export(ctx.settings, ctx.artifacts, row)
    filename = f"{name}-v{version}.onnx"
    return FileResponse(folder / "model.onnx", media_type="application/octet-stream",
                        filename=filename)  # fmt: skip


@router.get(
    VERSION + "/package",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **errors(409)},
)
async def download_package(name: ModelName, version: VersionNo, who: Viewer, ctx: Ctx) -> Response:
    """A zip to run the model anywhere with numpy and onnxruntime: model.onnx,
    signature.json, predict.py, requirements.txt and README.md. Needs an ONNX export (409),
    unless the version is ONNX already."""
    async with ctx.db.read() as session:
        row = await registry.get_version(session, name, version)
        found = await export.find_export(session, row, "onnx")
    if found is None and row.flavor != "onnx":
        raise Conflict(
            f"version {version} of {name!r} has no ONNX export yet: export it first "
            f"(POST {VERSION.format(model=name, version=version)}/export)"
        )
    path = await package.package(ctx.artifacts, ctx.settings, name, row, found)
    return package.zip_response(path, f"{name}-v{version}.zip")
