"""/api/v1/deployments: models served under a name, and their predictions.

Editors create, switch and delete deployments; any authenticated caller (API tokens too)
reads them and asks for predictions. The predict path asks the database only who is calling:
the deployment's serving process, its signature's validator and its counters are the
supervisor's, in memory."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import select

from plait.api.deps import Ctx, Editor, Viewer
from plait.api.openapi import errors
from plait.api.schemas import PatchBody
from plait.db.models import Deployment, Model, ModelVersion
from plait.errors import Conflict, FieldError, InvalidInput, Unavailable
from plait.models import export as exports
from plait.models import package as packaging
from plait.serving import store
from plait.serving.supervisor import Supervisor
from plait.workflows.spec import NAME_PATTERN, Name

router = APIRouter(tags=["deployments"])

DeploymentName = Annotated[str, Path(max_length=100, pattern=NAME_PATTERN)]
ModelName = Annotated[str, Field(min_length=1, max_length=100)]
Version = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
Stage = Literal["staging", "production"]
MaxBatch = Annotated[StrictInt, Field(ge=1, le=10_000)]


class DeploymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    model: ModelName
    version: Version | None = Field(default=None, description="Serve this version, fixed.")
    stage: Stage | None = Field(
        default=None, description="Serve the version in this stage, moving when another enters it."
    )
    max_batch: MaxBatch = Field(default=1000, description="The most rows one predict may send.")


class DeploymentPatch(PatchBody):
    """Switch to a version or a stage (one of them), or change max_batch."""

    version: Version | None = None
    stage: Stage | None = None
    max_batch: MaxBatch | None = None


class TrafficOut(BaseModel):
    since: datetime = Field(description="When this server process began counting.")
    requests: int
    rows: int
    errors: int
    window_seconds: float
    window_requests: int
    p50_ms: float | None = Field(description="Median latency over the recent window.")
    p99_ms: float | None


class DeploymentOut(BaseModel):
    id: int
    name: str
    model: str
    version: int | None = Field(description="The fixed version, when not following a stage.")
    stage: str | None = Field(description="The stage followed, when not a fixed version.")
    status: str = Field(description="pending | loading | serving | failed | stopped")
    serving_version: int | None = Field(description="The version answering predictions.")
    error: str | None = Field(description="Why the last load failed (the old version serves).")
    max_batch: int
    created_at: datetime
    updated_at: datetime
    serving_format: str | None = Field(
        description="How this server process serves it: sklearn, pickle, onnx (the version's "
        "own flavor) or onnx-export (the version's ONNX export)."
    )
    traffic: TrafficOut | None = Field(description="This server process's counts.")
    signature: dict[str, Any] | None = Field(
        default=None,
        description="On one deployment: the inputs and first sample row of the version it "
        "serves (or will serve), for a form to ask it.",
    )


class PredictIn(BaseModel):
    rows: list[dict[str, Any]] = Field(
        description="One object per row, a value for each of the signature's inputs."
    )


class PredictOut(BaseModel):
    predictions: list[Any]
    model: str
    version: int
    deployment: str
    latency_ms: float = Field(description="Time in the server: checks and the model.")


def here(request: Request) -> Supervisor | None:
    """This server process's supervisor (None under PLAIT_SERVING=false)."""
    found: Supervisor | None = getattr(request.app.state.services, "supervisor", None)
    return found


def supervisor_of(request: Request) -> Supervisor:
    found = here(request)
    if found is None:
        raise Unavailable("this server process serves no deployments (PLAIT_SERVING=false)")
    return found


def _with_traffic(request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = here(request)
    for row in rows:
        slot = found.slot(row["name"]) if found is not None else None
        row["traffic"] = slot.traffic.summary() if slot is not None else None
        target = slot.serving if slot is not None and slot.process is not None else None
        row["serving_format"] = (
            None if target is None else "onnx-export" if target.export else target.flavor
        )
    return rows


@router.post(
    "/api/v1/deployments",
    status_code=status.HTTP_201_CREATED,
    response_model=DeploymentOut,
    responses=errors(409),
)
async def create_deployment(
    body: DeploymentCreate, who: Editor, ctx: Ctx, request: Request, response: Response
) -> Any:
    """Serve a model's version (`version`) or the version in a stage (`stage`): exactly one.
    The answer's status is `pending`; it becomes `serving` once the model has loaded."""
    async with ctx.db.write() as session:
        dep = await store.create(session, who, **body.model_dump())
    async with ctx.db.read() as session:
        (out,) = await store.describe(session, [await store.get(session, dep.name)])
    if (supervisor := here(request)) is not None:
        supervisor.wake()
    response.headers["Location"] = f"/api/v1/deployments/{dep.name}"
    return _with_traffic(request, [out])[0]


@router.get("/api/v1/deployments", response_model=list[DeploymentOut])
async def list_deployments(who: Viewer, ctx: Ctx, request: Request) -> Any:
    async with ctx.db.read() as session:
        deps = list((await session.execute(select(Deployment).order_by(Deployment.name))).scalars())
        return _with_traffic(request, await store.describe(session, deps))


@router.get("/api/v1/deployments/{name}", response_model=DeploymentOut)
async def get_deployment(name: DeploymentName, who: Viewer, ctx: Ctx, request: Request) -> Any:
    async with ctx.db.read() as session:
        dep = await store.get(session, name)
        (out,) = await store.describe(session, [dep])
        out["signature"] = await store.signature_of(session, dep)
    return _with_traffic(request, [out])[0]


@router.patch("/api/v1/deployments/{name}", response_model=DeploymentOut)
async def patch_deployment(
    name: DeploymentName, body: DeploymentPatch, who: Editor, ctx: Ctx, request: Request
) -> Any:
    """Switch the version (or the stage followed): the new one loads beside the old, which
    answers until the new one is ready; a new version that fails to load leaves the old one
    serving and the deployment `failed` with the loader's message."""
    async with ctx.db.write() as session:
        dep = await store.update(
            session, who, await store.get(session, name), body.model_dump(exclude_unset=True)
        )
        (out,) = await store.describe(session, [dep])
    if (supervisor := here(request)) is not None:
        supervisor.limit(name, out["max_batch"])
        supervisor.wake()
    return _with_traffic(request, [out])[0]


@router.delete("/api/v1/deployments/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_deployment(name: DeploymentName, who: Editor, ctx: Ctx, request: Request) -> None:
    """Stop serving (requests in flight are answered first) and forget the deployment."""
    async with ctx.db.write() as session:
        await store.delete(session, who, await store.get(session, name))
    if (supervisor := here(request)) is not None:
        supervisor.forget(name)


@router.post(
    "/api/v1/deployments/{name}/predict",
    response_model=PredictOut,
    responses=errors(409, 413, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PredictIn.model_json_schema()}},
        }
    },
)
async def predict(name: DeploymentName, who: Viewer, ctx: Ctx, request: Request) -> Any:
    """Predictions for `rows`, checked against the serving version's signature first (each
    problem named by row and field, e.g. `rows[3].petal_width`, at most 20). At most the
    deployment's `max_batch` rows; the body is bounded by PLAIT_MAX_BODY_BYTES."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput([FieldError(("body",), "expected a JSON object", "json")]) from None
    if not isinstance(body, dict) or "rows" not in body:
        raise InvalidInput(
            [FieldError(("rows",), 'missing: send {"rows": [{...}, ...]}', "missing")]
        )
    supervisor = supervisor_of(request)
    if supervisor.slot(name) is None:  # not known here yet: created a moment ago, or none
        async with ctx.db.read() as session:
            dep = await store.get(session, name)
        raise Unavailable(
            f"deployment {name!r} is not serving yet (status {dep.status})",
            deployment_status=dep.status,
        )
    answer = await supervisor.predict(name, body["rows"])
    return JSONResponse(
        {
            "predictions": answer.predictions,
            "model": answer.model,
            "version": answer.version,
            "deployment": name,
            "latency_ms": round(answer.latency_ms, 3),
        }
    )


@router.get(
    "/api/v1/deployments/{name}/package",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **errors(409)},
)
async def package(name: DeploymentName, who: Viewer, ctx: Ctx) -> Response:
    """The standalone package of the version the deployment serves (model.onnx,
    signature.json, predict.py, requirements.txt, README.md): its ONNX export, or its own
    file when the version is ONNX already (else 409: export it first)."""
    async with ctx.db.read() as session:
        dep = await store.get(session, name)
        version = await session.get(ModelVersion, dep.serving_version_id or dep.version_id or 0)
        model = await session.get(Model, dep.model_id)
        if version is None or model is None:
            raise Conflict(f"deployment {name!r} has no version to package yet")
        export = await exports.find_export(session, version, "onnx")
    if export is None and version.flavor != "onnx":
        raise Conflict(
            f"deployment {name!r} serves version {version.version} of {model.name!r}, which has "
            f"no ONNX export: export it first (POST /api/v1/models/{model.name}/versions/"
            f"{version.version}/export)"
        )
    path = await packaging.package(ctx.artifacts, ctx.settings, model.name, version, export)
    return packaging.zip_response(path, f"{name}-{model.name}-v{version.version}.zip")
