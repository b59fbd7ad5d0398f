"""Chat sessions in the database: one per conversation, seen by its user only (anyone
else's id is not found). `state` holds the current proposal, the other candidates a
follow-up may pick ("the other one"), a revision count and the last messages.

Sessions expire a day after their last message. Expired rows are deleted on access: each
new message prunes them all (one DELETE), and an expired session read is not found.

Functions add and flush; the route owns the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.auth.roles import Principal
from plait.db.models import ChatSession
from plait.errors import NotFound

TTL = timedelta(days=1)
MAX_MESSAGES = 20
MAX_PER_USER = 50  # live sessions a user keeps; a new one beyond drops their oldest


def _expired(row: ChatSession, now: datetime) -> bool:
    updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
    return now - updated > TTL


async def get(
    session: AsyncSession, session_id: int, who: Principal, *, lock: bool = False
) -> ChatSession:
    query = select(ChatSession).where(ChatSession.id == session_id,
                                      ChatSession.user_id == who.id)  # fmt: skip
    row = (await session.execute(query.with_for_update() if lock else query)).scalar()
    if row is None or _expired(row, datetime.now(UTC)):
        raise NotFound(f"no chat session {session_id}")
    return row


async def prune(session: AsyncSession) -> None:
    await session.execute(
        delete(ChatSession).where(ChatSession.updated_at < datetime.now(UTC) - TTL)
    )


async def create(session: AsyncSession, who: Principal) -> ChatSession:
    ids = list(await session.scalars(
        select(ChatSession.id).where(ChatSession.user_id == who.id)
        .order_by(ChatSession.updated_at.desc(), ChatSession.id.desc())
    ))  # fmt: skip
    if len(ids) >= MAX_PER_USER:
        await session.execute(
            delete(ChatSession).where(ChatSession.id.in_(ids[MAX_PER_USER - 1 :]))
        )
    row = ChatSession(user_id=who.id, state=empty_state())
    session.add(row)
    await session.flush()
    return row


def empty_state() -> dict[str, Any]:
    return {"proposal": None, "alternatives": [], "revision": 0, "messages": []}


def with_messages(state: dict[str, Any], *messages: dict[str, Any]) -> list[dict[str, Any]]:
    """The last MAX_MESSAGES messages once `messages` are added."""
    now = datetime.now(UTC).isoformat()
    added = [{**m, "at": now} for m in messages]
    return [*state.get("messages", []), *added][-MAX_MESSAGES:]
