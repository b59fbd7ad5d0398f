"""/api/v1/workflows/{ref}/versions: history, one version, diffs, restore."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel
from sqlalchemy import select

from plait.api.deps import Ctx, Editor, Viewer
from plait.api.inputs import Digits
from plait.api.schemas import Page, etag
from plait.api.workflows import Ref, WorkflowOut, workflow_out
from plait.db.models import User, WorkflowVersion
from plait.workflows import store
from plait.workflows.versions import diff

router = APIRouter(prefix="/api/v1/workflows/{ref}/versions", tags=["versions"])
Number = Annotated[int, Path(ge=1, le=1_000_000_000), Digits]


class VersionSummary(BaseModel):
    version: int
    content_hash: str
    created_at: datetime
    created_by: str | None
    message: str
    source: dict[str, Any] | None


class VersionOut(VersionSummary):
    spec: dict[str, Any]


class VersionDiff(BaseModel):
    workflow_id: int
    from_version: int
    to_version: int
    fields: dict[str, Any]
    tasks: dict[str, Any]


def _version_query(workflow_id: int) -> Any:
    return (
        select(WorkflowVersion, User.username)
        .outerjoin(User, User.id == WorkflowVersion.created_by)
        .where(WorkflowVersion.workflow_id == workflow_id)
    )


def _out(version: WorkflowVersion, author: str | None, full: bool) -> dict[str, Any]:
    data = {
        "version": version.version,
        "content_hash": version.content_hash,
        "created_at": version.created_at,
        "created_by": author,
        "message": version.message,
        "source": version.source,
    }
    return {**data, "spec": version.spec} if full else data


@router.get("", response_model=Page[VersionSummary])
async def list_versions(
    ref: Ref,
    who: Viewer,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=1_000_000_000, description="Cursor."), Digits
    ] = None,
) -> Any:
    """Newest first. `next_cursor` is the version number to pass as `before`."""
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
        query = _version_query(wf.id).order_by(WorkflowVersion.version.desc())
        if before is not None:
            query = query.where(WorkflowVersion.version < before)
        rows = (await session.execute(query.limit(limit + 1))).all()
    items = [_out(v, author, False) for v, author in rows[:limit]]
    more = len(rows) > limit
    return {"items": items, "next_cursor": str(items[-1]["version"]) if more else None}


@router.get("/{number}", response_model=VersionOut)
async def get_version(ref: Ref, number: Number, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
        version = await store.get_version(session, wf, number)
        author = await session.get(User, version.created_by) if version.created_by else None
    return _out(version, author.username if author else None, True)


@router.get("/{a}/diff/{b}", response_model=VersionDiff)
async def diff_versions(ref: Ref, a: Number, b: Number, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
        old = await store.get_version(session, wf, a)
        new = await store.get_version(session, wf, b)
    return {"workflow_id": wf.id, "from_version": a, "to_version": b, **diff(old.spec, new.spec)}


@router.post("/{number}/restore", response_model=WorkflowOut)
async def restore_version(
    ref: Ref, number: Number, who: Editor, ctx: Ctx, response: Response
) -> Any:
    """Make version `number` current again as a new version (none when it already is)."""
    async with ctx.db.write() as session:
        wf = await store.get_for_edit(session, ref, who)
        await store.restore(session, who, wf, number)
        out = await workflow_out(session, wf)
    response.headers.update(etag(out.current_version))
    return out
