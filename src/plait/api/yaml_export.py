"""Workflow definitions as YAML, written by the server: byte for byte what `plait export`
writes, so the UI's YAML tab and its diffs of versions show the same document as the CLI
(one serializer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from plait.api.deps import Ctx, Viewer
from plait.api.inputs import RefPath
from plait.api.versions import Number
from plait.workflows import store
from plait.workflows.export import to_yaml
from plait.workflows.spec import WorkflowSpec

router = APIRouter(tags=["workflows"])

YAML = "application/yaml"
AS_YAML: dict[int | str, dict[str, Any]] = {
    200: {"content": {YAML: {}}, "description": "YAML, as `plait export` writes it."}
}


@router.get("/api/v1/workflows/{ref}/export", response_class=PlainTextResponse, responses=AS_YAML)
async def export_workflow(ref: RefPath, who: Viewer, ctx: Ctx) -> PlainTextResponse:
    """The definition as YAML, byte for byte what `plait export` writes (the UI shows it)."""
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
    return PlainTextResponse(to_yaml(wf.spec), media_type=YAML)


@router.get(
    "/api/v1/workflows/{ref}/versions/{number}/export",
    response_class=PlainTextResponse,
    responses=AS_YAML,
)
async def export_version(ref: RefPath, number: Number, who: Viewer, ctx: Ctx) -> PlainTextResponse:
    """Version `number` of the definition, as `plait export` would write it."""
    async with ctx.db.read() as session:
        version = await store.get_version(session, await store.get(session, ref), number)
    return PlainTextResponse(to_yaml(version.spec), media_type=YAML)


# Not under /api/v1/workflows/: there, "yaml" would also be the name of a workflow.
@router.post("/api/v1/workflow-yaml", response_class=PlainTextResponse, responses=AS_YAML)
async def render_yaml(body: WorkflowSpec, who: Viewer) -> PlainTextResponse:
    """A definition, not saved, as the YAML `plait export` would write once it is saved (the
    editor's YAML tab for a draft); checked as a save would be (triggers aside)."""
    return PlainTextResponse(to_yaml(store.validate(body)), media_type=YAML)
