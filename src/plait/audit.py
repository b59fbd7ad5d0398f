"""Audit events: every mutation records who did what to which target, in its transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plait.auth.roles import Principal
from plait.db.models import AuditEvent


def record(
    session: AsyncSession,
    actor: Principal | None,
    action: str,
    target_type: str,
    target_id: object = None,
    **summary: Any,
) -> None:
    """Add an audit event to the session's transaction. Never pass secrets in `summary`."""
    session.add(
        AuditEvent(
            actor_id=actor.id if actor else None,
            actor=actor.username if actor else "system",
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            summary=summary,
        )
    )
