"""Rules: which events of which workflows go to which channel; and the outbox handler that
turns a run event into one pending delivery per matching rule.

The handler only writes rows: sending happens in the delivery worker, so a slow or dead
channel can never hold up the transaction that moved a run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import Channel, Delivery, Event, Rule, Run, Workflow
from plait.notifications import messages

log = logging.getLogger("plait.notifications")

RUN_EVENTS = ("run.succeeded", "run.failed", "run.cancelled")
EVENTS = (*RUN_EVENTS, "task.retrying", "run.duration_exceeded")
PENDING, SENT, FAILED = "pending", "sent", "failed"


async def matching_rules(session: AsyncSession, workflow: Workflow, event: str) -> list[Rule]:
    """Enabled rules on enabled channels whose scope takes in `workflow` and that want
    `event`. Rules are few; the event list (JSON) is filtered here, portably."""
    scope = or_(
        Rule.scope == "all",
        (Rule.scope == "workflow") & (Rule.scope_value == str(workflow.id)),
        (Rule.scope == "tag") & Rule.scope_value.in_(list(workflow.tags or [])),
    )
    query = (
        select(Rule)
        .join(Channel, Channel.id == Rule.channel_id)
        .where(Rule.enabled.is_(True), Channel.enabled.is_(True), scope)
        .order_by(Rule.id)
    )
    return [r for r in (await session.execute(query)).scalars() if event in r.events]


async def queue(
    session: AsyncSession,
    rules: Iterable[Rule],
    event: str,
    run_id: int,
    dedupe: str,
    payload: dict[str, Any],
) -> int:
    """One pending delivery per rule, unless one exists already under the same key
    (rule, event, run, dedupe): handlers run at least once, deliveries exactly once."""
    now = datetime.now(UTC)
    added = 0
    for rule in rules:
        delivery = Delivery(
            channel_id=rule.channel_id,
            rule_id=rule.id,
            event_type=event,
            run_id=run_id,
            dedupe=dedupe,
            payload=payload,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
        )
        try:
            # A savepoint: a duplicate rolls back this insert only, not the caller's work.
            async with session.begin_nested():
                session.add(delivery)
                await session.flush()
            added += 1
        except IntegrityError:
            log.debug("delivery for rule %s, %s, run %s exists already", rule.id, event, run_id)
    return added


async def on_event(session: AsyncSession, event: Event) -> None:
    """Outbox handler: queue deliveries for run endings and task retries. Idempotent."""
    if event.type not in (*RUN_EVENTS, "task.retrying") or event.run_id is None:
        return
    run = await session.get(Run, event.run_id)
    workflow = await session.get(Workflow, run.workflow_id) if run else None
    if run is None or workflow is None:
        return  # deleted since; nobody to tell about it
    rules = await matching_rules(session, workflow, event.type)
    if not rules:
        return
    facts = messages.run_facts(run, workflow, event.type, event.created_at)
    if event.type == "run.failed":
        facts.update(await messages.failure_facts(session, run.id))
    elif event.type == "task.retrying":
        facts.update(await messages.retry_facts(session, run.id, event.data or {}))
    # Keyed by the event: the same event handled twice queues once, while a run that is
    # retried and fails again is news again.
    await queue(session, rules, event.type, run.id, f"event:{event.id}", facts)
