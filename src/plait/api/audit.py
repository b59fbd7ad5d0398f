"""/api/v1/audit: the audit trail, newest first, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from plait.api.deps import Admin, Ctx
from plait.api.inputs import IdQuery, Instant
from plait.api.schemas import Page
from plait.db.models import AuditEvent

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Short = Annotated[str | None, Query(max_length=64, pattern=r"^[\w.:@-]+$")]


class AuditOut(BaseModel):
    id: int
    created_at: datetime
    actor_id: int | None
    actor: str
    action: str
    target_type: str
    target_id: str | None
    summary: dict[str, Any]


@router.get("", response_model=Page[AuditOut])
async def list_audit(
    who: Admin,
    ctx: Ctx,
    actor: Short = None,
    action: Short = None,
    target_type: Short = None,
    target_id: Short = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: IdQuery = None,
) -> Any:
    """Filter by actor (username), action (exact, or a prefix ending in `.`, e.g. `workflow.`),
    target, and time."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        is_prefix = action.endswith(".")
        query = query.where(
            AuditEvent.action.startswith(action, autoescape=True)
            if is_prefix
            else AuditEvent.action == action
        )
    if target_type:
        query = query.where(AuditEvent.target_type == target_type)
    if target_id:
        query = query.where(AuditEvent.target_id == target_id)
    if since:
        query = query.where(AuditEvent.created_at >= since)
    if until:
        query = query.where(AuditEvent.created_at < until)
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    async with ctx.db.read() as session:
        rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    return {"items": rows[:limit], "next_cursor": str(rows[limit - 1].id) if more else None}
