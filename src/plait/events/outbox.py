"""Writing events: in the same transaction as the change they describe, so an event exists
exactly when its change was committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import Event

CATCH_UP_LIMIT = 10_000

# An account was deleted, disabled, demoted or its logins ended. The WebSocket hubs close its
# sockets; it is not sent to clients (it is about access, not about workflows or runs).
ACCESS_CHANGED = "user.access_changed"


def record(
    session: AsyncSession,
    type: str,
    *,
    workflow_id: int | None = None,
    run_id: int | None = None,
    user_id: int | None = None,
    **data: Any,
) -> None:
    session.add(
        Event(type=type, workflow_id=workflow_id, run_id=run_id, user_id=user_id, data=data)
    )


def as_message(event: Event) -> dict[str, Any]:
    """The event as clients and buses see it."""
    return {
        "id": event.id,
        "type": event.type,
        "time": event.created_at.isoformat(),
        "workflow_id": event.workflow_id,
        "run_id": event.run_id,
        "user_id": event.user_id,
        "data": event.data,
    }


def topics(message: dict[str, Any]) -> set[str]:
    """The topics an event is published on."""
    found = {"*"}
    for name in ("workflow", "run", "user"):
        if message.get(f"{name}_id") is not None:
            found.add(f"{name}:{message[f'{name}_id']}")
    return found


async def published_after(db: Database, after_id: int) -> list[dict[str, Any]]:
    """Published events after `after_id`, in id order (a bus that lost its subscription
    catches up with these)."""
    query = (
        select(Event)
        .where(Event.id > after_id, Event.published_at.is_not(None))
        .order_by(Event.id)
        .limit(CATCH_UP_LIMIT)
    )
    async with db.read() as session:
        return [as_message(e) for e in (await session.execute(query)).scalars()]
