"""Per-workflow SLA: a run still going after its workflow's `sla_seconds` is news, once.

Checked by the delivery worker on each poll with reads only (the SLA of each workflow
version is cached: versions never change); it writes once when a run crosses its limit.
The delivery key (rule, event, run, "sla") makes the notice once per run and rule, also
with several servers checking. Rules are those that match when the limit is crossed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.engine import Database
from plait.db.models import Channel, Delivery, Rule, Run, Workflow, WorkflowVersion
from plait.notifications import messages, rules
from plait.orchestration.states import RunStatus

EVENT = "run.duration_exceeded"
DEDUPE = "sla"
CACHE_MAX = 10_000


class SlaWatch:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._sla: dict[tuple[int, int], float | None] = {}  # (workflow, version) -> seconds
        self._checked: set[int] = set()  # late runs already dealt with by this process

    async def check(self, now: datetime | None = None) -> int:
        """Queue notices for runs past their SLA; returns how many deliveries were added."""
        now = now or datetime.now(UTC)
        async with self.db.read() as session:
            if not await _anyone_listens(session):
                return 0
            late = await self._late_runs(session, now)
            told = await _told(session, list(late))
        self._checked |= told
        late = {run_id: sla for run_id, sla in late.items() if run_id not in told}
        if not late:
            return 0
        added = 0
        async with self.db.write() as session:
            for run_id, sla in late.items():
                added += await _queue(session, run_id, sla, now)
        # Checked once per run, even when no rule matched: no write transaction each poll.
        self._checked |= set(late)
        return added

    async def _late_runs(self, session: AsyncSession, now: datetime) -> dict[int, float]:
        running = await session.execute(
            select(Run.id, Run.workflow_id, Run.workflow_version, Run.started_at).where(
                Run.status == RunStatus.running
            )
        )
        if len(self._checked) > CACHE_MAX:
            self._checked.clear()  # then `_told` and the delivery key still prevent repeats
        late = {}
        for run_id, workflow_id, version, started in running.all():
            if run_id in self._checked:
                continue
            sla = await self._sla_of(session, workflow_id, version)
            if sla is not None and started is not None and now - started > timedelta(seconds=sla):
                late[run_id] = sla
        return late

    async def _sla_of(self, session: AsyncSession, workflow_id: int, version: int) -> float | None:
        key = (workflow_id, version)
        if key not in self._sla:
            if len(self._sla) > CACHE_MAX:
                self._sla.clear()
            spec = await session.scalar(
                select(WorkflowVersion.spec).where(
                    WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == version
                )
            )
            value = (spec or {}).get("sla_seconds")
            self._sla[key] = float(value) if isinstance(value, int | float) else None
        return self._sla[key]


async def _anyone_listens(session: AsyncSession) -> bool:
    """Whether any enabled rule wants SLA notices: if none, there is nothing to check."""
    found = await session.execute(
        select(Rule.events)
        .join(Channel, Channel.id == Rule.channel_id)
        .where(Rule.enabled.is_(True), Channel.enabled.is_(True))
    )
    return any(EVENT in events for events in found.scalars())


async def _told(session: AsyncSession, run_ids: list[int]) -> set[int]:
    """Runs with an SLA notice already (queued by this server or another)."""
    if not run_ids:
        return set()
    told = await session.execute(
        select(Delivery.run_id).where(Delivery.event_type == EVENT, Delivery.run_id.in_(run_ids))
    )
    return {run_id for run_id in told.scalars() if run_id is not None}


async def _queue(session: AsyncSession, run_id: int, sla: float, now: datetime) -> int:
    run = await session.get(Run, run_id)
    workflow = await session.get(Workflow, run.workflow_id) if run else None
    if run is None or workflow is None or run.status != RunStatus.running:
        return 0  # it ended, or went, between the check and now
    matching = await rules.matching_rules(session, workflow, EVENT)
    facts = {**messages.run_facts(run, workflow, EVENT, now), "sla_seconds": sla}
    return await rules.queue(session, matching, EVENT, run.id, DEDUPE, facts)
