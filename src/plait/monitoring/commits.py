"""Recording a measurement only once its transaction commits.

A status change counted before its commit would be counted again when the transaction rolls
back and the change is retried. So `on_commit` queues the record on the session and these
listeners run the queue when the outermost transaction commits, and drop a rolled-back
transaction's part (a savepoint's, or all of it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_KEY = "plait.monitoring.pending"
Pending = list[tuple[SessionTransaction | None, Callable[[], None]]]


def on_commit(session: AsyncSession | Session, record: Callable[[], None]) -> None:
    """Run `record` once the transaction `session` is in now commits; never if it rolls back."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    where = sync.get_nested_transaction() or sync.get_transaction()
    sync.info.setdefault(_KEY, []).append((where, record))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its records wait for the outer commit
    pending: Pending = session.info.pop(_KEY, [])
    for _, record in pending:
        record()


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    pending: Pending | None = session.info.get(_KEY)
    if not pending:
        return
    kept = [(where, record) for where, record in pending if not _inside(where, previous)]
    if kept:
        session.info[_KEY] = kept
    else:
        session.info.pop(_KEY, None)


def _inside(where: SessionTransaction | None, ended: Any) -> bool:
    """`where` is the transaction `ended` or one nested in it."""
    while where is not None:
        if where is ended:
            return True
        where = where.parent
    return False
