"""The delivery worker: sends due deliveries, off the scheduler's path.

Each poll it reads which deliveries are due (a read: no write lock taken while idle), claims
some with a compare-and-set on `attempts` (so two servers never send one try twice), sends
them as tasks of their own, each within `notify_timeout_seconds`, and records the outcome.
At most one send per channel is in flight and at most `notify_parallel` in all, so a dead
channel holds one slot for one timeout and nothing else: runs never wait for it.

A failed try is retried after a backoff that doubles (with jitter) until
`notify_max_attempts`. A claim sets `next_attempt_at` to a lease; a server that dies
mid-send leaves the delivery to be claimed again when the lease ends (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal
from plait.db.engine import Database
from plait.db.models import Channel, Delivery
from plait.monitoring import instruments
from plait.notifications import store
from plait.notifications.channels import Outcome, Target, deliver
from plait.notifications.messages import render
from plait.notifications.rules import FAILED, PENDING, SENT
from plait.notifications.sla import SlaWatch
from plait.settings import Settings

log = logging.getLogger("plait.notifications")
BACKOFF_MAX = 3600.0
OUTCOMES = {SENT: "sent", FAILED: "failed", PENDING: "retrying"}  # the metric's outcome label
LEASE_MARGIN = 30.0  # beyond the send timeout, before a claimed delivery counts as lost


@dataclass(frozen=True)
class Job:
    """A claimed delivery: `attempt` is the try this is (its `attempts` after the claim)."""

    delivery_id: int
    attempt: int
    event: str
    payload: dict[str, Any]
    target: Target


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds before the try after `attempt`; ±20 % so failures together spread out."""
    base = settings.notify_retry_seconds * 2 ** (attempt - 1)
    return float(min(BACKOFF_MAX, base * random.uniform(0.8, 1.2)))


def outcome_values(
    outcome: Outcome, attempt: int, settings: Settings, now: datetime, *, final: bool = False
) -> dict[str, Any]:
    """The delivery's columns after a try: sent, failed for good, or pending again later."""
    values: dict[str, Any] = {"response_code": outcome.code, "error": outcome.error}
    if outcome.ok:
        return {**values, "status": SENT, "sent_at": now, "next_attempt_at": None}
    if final or outcome.permanent or attempt >= settings.notify_max_attempts:
        return {**values, "status": FAILED, "next_attempt_at": None}
    later = now + timedelta(seconds=backoff(settings, attempt))
    return {**values, "status": PENDING, "next_attempt_at": later}


async def _record(db: Database, job: Job, values: dict[str, Any]) -> None:
    async with db.write() as session:
        # Only while our claim stands: a lease that ran out belongs to the next claimer.
        await session.execute(
            update(Delivery)
            .where(
                Delivery.id == job.delivery_id,
                Delivery.attempts == job.attempt,
                Delivery.status == PENDING,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )


class DeliveryWorker:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.sla = SlaWatch(db)
        self._task: asyncio.Task[None] | None = None
        self._sending: dict[asyncio.Task[None], int] = {}  # send task -> channel id

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="plait-deliveries")

    async def stop(self) -> None:
        """Stop now. Sends in flight are cancelled; their lease brings them back later."""
        tasks = [t for t in (self._task, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.sla.check()
                free = self.settings.notify_parallel - len(self._sending)
                for job in await self.claim(free, busy=set(self._sending.values())):
                    task = asyncio.create_task(self._send(job), name=f"delivery-{job.delivery_id}")
                    self._sending[task] = job.target.id
                    task.add_done_callback(self._sending.pop)
            except Exception:  # the loop must outlive one bad poll; the next one retries
                log.exception("delivery poll failed")
            await asyncio.sleep(self.settings.notify_poll_seconds)

    async def run_once(self) -> int:
        """One poll, waiting for its sends: for tests and one-shot use. Returns sends made."""
        await self.sla.check()
        jobs = await self.claim(self.settings.notify_parallel, busy=set())
        await asyncio.gather(*(self.send(job) for job in jobs))
        return len(jobs)

    async def claim(self, limit: int, busy: set[int]) -> list[Job]:
        """Claim up to `limit` due deliveries, one per channel, none on a `busy` channel."""
        if limit <= 0:
            return []
        now = datetime.now(UTC)
        async with self.db.read() as session:
            due = await _due(session, now, limit, busy)
        if not due:
            return []
        lease = now + timedelta(seconds=self.settings.notify_timeout_seconds + LEASE_MARGIN)
        async with self.db.write() as session:
            claimed = [d for d, n in due if await _claim_one(session, d, n, now, lease)]
            return await _jobs(session, claimed)

    async def _send(self, job: Job) -> None:
        try:
            await self.send(job)
        except Exception:  # e.g. the database went away: the lease brings the job back
            log.exception("recording delivery %s failed", job.delivery_id)

    async def send(self, job: Job) -> None:
        if not job.target.enabled:
            outcome = Outcome(False, None, "channel disabled before sending", permanent=True)
        else:
            message = render(job.event, job.payload, self.settings.base_url)
            outcome = await deliver(job.target, message, self.settings, str(job.delivery_id))
        values = outcome_values(outcome, job.attempt, self.settings, datetime.now(UTC))
        await _record(self.db, job, values)
        _log(job, values)
        instruments.deliveries.labels(job.target.kind, OUTCOMES[values["status"]]).inc()


def _log(job: Job, values: dict[str, Any]) -> None:
    what = (job.delivery_id, job.event, job.target.name, job.attempt)
    if values["status"] == SENT:
        log.info("delivery %s (%s) sent to channel %r on try %s", *what)
    elif values["status"] == FAILED:
        log.warning(
            "delivery %s (%s) to channel %r failed for good on try %s: %s", *what, values["error"]
        )
    else:
        log.info(
            "delivery %s (%s) to channel %r failed on try %s, will retry: %s",
            *what,
            values["error"],
        )


async def _due(
    session: AsyncSession, now: datetime, limit: int, busy: set[int]
) -> list[tuple[int, int]]:
    """(delivery id, attempts) of the oldest due delivery of each channel not `busy`, oldest
    first. Per channel in SQL: a dead channel's backlog must not fill the window and starve
    the channels behind it."""
    due = Delivery.status == PENDING, Delivery.next_attempt_at <= now
    place = (
        func.row_number()
        .over(partition_by=Delivery.channel_id, order_by=(Delivery.next_attempt_at, Delivery.id))
        .label("place")
    )
    firsts = (
        select(Delivery.id, Delivery.attempts, Delivery.next_attempt_at, place)
        .where(*due, Delivery.channel_id.not_in(busy))
        .subquery()
    )
    rows = await session.execute(
        select(firsts.c.id, firsts.c.attempts)
        .where(firsts.c.place == 1)
        .order_by(firsts.c.next_attempt_at, firsts.c.id)
        .limit(limit)
    )
    return [(delivery_id, attempts) for delivery_id, attempts in rows.all()]


async def _claim_one(
    session: AsyncSession, delivery_id: int, attempts: int, now: datetime, lease: datetime
) -> bool:
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == PENDING,
            Delivery.attempts == attempts,
            Delivery.next_attempt_at <= now,
        )
        .values(attempts=attempts + 1, next_attempt_at=lease)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def _jobs(session: AsyncSession, delivery_ids: list[int]) -> list[Job]:
    if not delivery_ids:
        return []
    rows = await session.execute(
        select(Delivery, Channel)
        .join(Channel, Channel.id == Delivery.channel_id)
        .where(Delivery.id.in_(delivery_ids))
        .order_by(Delivery.id)
    )
    return [
        Job(d.id, d.attempts, d.event_type, dict(d.payload), Target.of(c)) for d, c in rows.all()
    ]


# --- a test message, sent now ---------------------------------------------------------------


async def send_test(
    db: Database, settings: Settings, who: Principal, channel_id: int
) -> tuple[int, Outcome]:
    """Send a test message to the channel at once and record it as a delivery (one try, no
    retry: the caller is waiting for the answer). Returns the delivery id and the outcome."""
    async with db.write() as session:
        channel = await store.channel_for_edit(session, channel_id, who)
        payload = {"event": "test", "channel": channel.name, "requested_by": who.username}
        delivery = Delivery(
            channel_id=channel.id,
            event_type="test",
            dedupe=uuid.uuid4().hex,
            payload=payload,
            status=PENDING,
            attempts=1,
        )
        session.add(delivery)
        await session.flush()
        audit.record(session, who, "channel.test", "channel", channel.id, name=channel.name)
        job = Job(delivery.id, 1, "test", payload, Target.of(channel))
    message = render("test", payload, settings.base_url)
    outcome = await deliver(job.target, message, settings, str(job.delivery_id))
    values = outcome_values(outcome, 1, settings, datetime.now(UTC), final=True)
    await _record(db, job, values)
    return job.delivery_id, outcome
