"""Chains: when a run ends, start the workflows whose `triggers` name its workflow and outcome.

`on_event` is an event handler: the dispatcher calls it with each committed event, at least
once, inside a write transaction. It is idempotent: a chained run carries the idempotency key
`upstream:<run id>`, unique per workflow, so a re-delivered event finds its run already there.
One finished run therefore starts at most one run of each workflow, whichever of its triggers
matched first (a failed run that is retried and then succeeds does not start a second one).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.db.models import Event, Run, TaskAttempt, Workflow
from plait.errors import InvalidInput
from plait.orchestration.runs import create_run
from plait.orchestration.states import AttemptStatus, RunStatus

log = logging.getLogger("plait.chains")

OUTCOMES = {
    "run.succeeded": RunStatus.succeeded,
    "run.failed": RunStatus.failed,
    "run.cancelled": RunStatus.cancelled,
}
MATCHES: dict[str, frozenset[str]] = {
    "success": frozenset({RunStatus.succeeded}),
    "failure": frozenset({RunStatus.failed}),
    "any": frozenset({RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled}),
}
MAX_DEPTH = 1000  # how far up a chain the runtime cycle guard looks


class MappingError(Exception):
    """A trigger's param source is not in the finished run (a missing param or output)."""


async def on_event(session: AsyncSession, event: Event) -> None:
    """The dispatcher's handler: start the runs `event` triggers (other events are ignored)."""
    await start_downstream(session, event)


async def start_downstream(session: AsyncSession, event: Event) -> list[int]:
    """Start the runs that the end of `event`'s run triggers; returns the ids of new runs,
    for the caller to wake the scheduler with once the transaction is committed."""
    outcome = OUTCOMES.get(event.type)
    if outcome is None or event.run_id is None:
        return []
    upstream = await session.get(Run, event.run_id)
    source = await session.get(Workflow, upstream.workflow_id) if upstream else None
    if upstream is None or source is None:
        return []  # deleted since it ended
    started: list[int] = []
    for wf, trigger in await _triggered(session, source.name, outcome):
        run_id = await _start_one(session, wf, trigger, upstream, outcome)
        if run_id is not None:
            started.append(run_id)
    return started


async def _triggered(
    session: AsyncSession, name: str, outcome: str
) -> list[tuple[Workflow, dict[str, Any]]]:
    """Each workflow with a trigger on `name` that `outcome` matches, with that trigger."""
    # Only workflows whose definition mentions the name at all are loaded; the JSON is text in
    # both databases, and names need no JSON escaping.
    mentions = cast(Workflow.spec, String).contains(f'"{name}"', autoescape=True)
    rows = (await session.execute(select(Workflow).where(mentions).order_by(Workflow.id))).scalars()
    found = []
    for wf in rows:
        for trigger in wf.spec.get("triggers", []):
            if trigger["workflow"] == name and outcome in MATCHES[trigger.get("on", "success")]:
                found.append((wf, trigger))
                break  # one run per finished run and workflow; the key would refuse a second
    return found


async def _start_one(
    session: AsyncSession, wf: Workflow, trigger: dict[str, Any], upstream: Run, outcome: str
) -> int | None:
    key = f"upstream:{upstream.id}"
    if await _exists(session, wf.id, key):
        return None  # this event was handled before
    if wf.paused:
        log.info("workflow %s is paused; run %s does not start it", wf.name, upstream.id)
        return None
    if wf.id in await _ancestry(session, upstream):
        # Saving refuses cycles; two saves racing on PostgreSQL could still make one.
        _skip(session, wf, upstream, "it is already part of this chain (a trigger cycle)")
        return None
    try:
        params = await map_params(session, trigger.get("params", {}), upstream)
        async with session.begin_nested():
            run = await create_run(session, wf, params=params, trigger="upstream",
                                   idempotency_key=key, upstream_run_id=upstream.id,
                                   description=f"run {upstream.id} {outcome}")  # fmt: skip
    except MappingError as exc:
        _skip(session, wf, upstream, str(exc))
        return None
    except InvalidInput as exc:
        _skip(session, wf, upstream, f"params do not fit: {exc.detail}",
              errors=[e.as_dict() for e in exc.errors])  # fmt: skip
        return None
    except IntegrityError:
        return None  # another dispatcher handled the same event at the same time
    log.info("run %s of %s started by run %s (%s)", run.id, wf.name, upstream.id, outcome)
    return run.id


async def map_params(
    session: AsyncSession, mapping: dict[str, str], upstream: Run
) -> dict[str, Any]:
    """The chained run's params from the finished run: `params.<name>` takes one of its params,
    `outputs.<task>.<key>` an output of the latest successful attempt of one of its tasks."""
    outputs = await _outputs(session, upstream.id) if mapping else {}
    params: dict[str, Any] = {}
    for name, source in mapping.items():
        kind, _, path = source.partition(".")
        if kind == "params":
            if path not in upstream.params:
                raise MappingError(f"param {name}: run {upstream.id} has no param {path!r}")
            params[name] = upstream.params[path]
            continue
        task_key, _, key = path.partition(".")
        if key not in outputs.get(task_key, {}):
            msg = f"param {name}: task {task_key!r} of run {upstream.id} has no output {key!r}"
            raise MappingError(msg)
        params[name] = outputs[task_key][key]
    return params


async def _outputs(session: AsyncSession, run_id: int) -> dict[str, dict[str, Any]]:
    rows = await session.execute(
        select(TaskAttempt.task_key, TaskAttempt.outputs)
        .where(TaskAttempt.run_id == run_id, TaskAttempt.status == AttemptStatus.succeeded)
        .order_by(TaskAttempt.attempt)
    )
    return {key: dict(outputs) for key, outputs in rows}  # the latest attempt wins


async def _exists(session: AsyncSession, workflow_id: int, key: str) -> bool:
    query = select(Run.id).where(Run.workflow_id == workflow_id, Run.idempotency_key == key)
    return await session.scalar(query) is not None


async def _ancestry(session: AsyncSession, run: Run) -> set[int]:
    """The workflows of `run` and of every run above it in its chain."""
    found = {run.workflow_id}
    above = run.upstream_run_id
    for _ in range(MAX_DEPTH):
        if above is None:
            break
        row = (await session.execute(
            select(Run.workflow_id, Run.upstream_run_id).where(Run.id == above)
        )).first()  # fmt: skip
        if row is None:
            break
        found.add(row.workflow_id)
        above = row.upstream_run_id
    return found


def _skip(session: AsyncSession, wf: Workflow, upstream: Run, reason: str, **extra: Any) -> None:
    log.warning("run %s does not start %s: %s", upstream.id, wf.name, reason)
    audit.record(session, None, "chain.skipped", "workflow", wf.id, workflow=wf.name,
                 upstream_run_id=upstream.id, reason=reason, **extra)  # fmt: skip
