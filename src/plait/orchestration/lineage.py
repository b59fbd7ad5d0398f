"""A chain of runs: the run whose end started this one, up to the first, and every run their
ends started, down to the last. `upstream_run_id` links them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import Run, Workflow
from plait.orchestration.runs import get_run
from plait.orchestration.states import RUN_FINISHED, RunStatus

MAX_RUNS = 1000  # a chain is a handful of runs; this only bounds a pathological one


async def lineage(session: AsyncSession, run_id: int) -> dict[str, Any]:
    """{"root", "runs" (by id), "status", "truncated"} of the chain `run_id` belongs to."""
    root = await _root(session, await get_run(session, run_id))
    rows = await _tree(session, root)
    runs = [
        {
            "id": run.id,
            "workflow_id": run.workflow_id,
            "workflow": name,
            "status": run.status,
            "upstream_run_id": run.upstream_run_id,
            "trigger": run.trigger,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
        }
        for run, name in sorted(rows, key=lambda r: r[0].id)
    ]
    statuses = {run.status for run, _ in rows}
    return {"root": root, "runs": runs, "status": overall(statuses),
            "truncated": len(runs) >= MAX_RUNS}  # fmt: skip


def overall(statuses: set[str]) -> str:
    """running while any run has not ended; then failed, cancelled or succeeded, worst first."""
    if statuses - RUN_FINISHED:
        return "running"
    for status in (RunStatus.failed, RunStatus.cancelled):
        if status in statuses:
            return status
    return RunStatus.succeeded


async def _root(session: AsyncSession, run: Run) -> int:
    """The first run of the chain: up the `upstream_run_id` links while they lead somewhere."""
    current, above, seen = run.id, run.upstream_run_id, {run.id}
    while above is not None and above not in seen and len(seen) < MAX_RUNS:
        row = (await session.execute(
            select(Run.id, Run.upstream_run_id).where(Run.id == above)
        )).first()  # fmt: skip
        if row is None:
            break  # the upstream run is gone; the chain starts here now
        seen.add(row.id)
        current, above = row.id, row.upstream_run_id
    return current


async def _tree(session: AsyncSession, root: int) -> list[tuple[Run, str]]:
    """The root and every run below it, level by level."""
    query = select(Run, Workflow.name).join(Workflow, Workflow.id == Run.workflow_id)
    found = [(run, name) for run, name in await session.execute(query.where(Run.id == root))]
    level, seen = [root], {root}
    while level and len(found) < MAX_RUNS:
        rows = await session.execute(
            query.where(Run.upstream_run_id.in_(level)).order_by(Run.id).limit(MAX_RUNS)
        )
        below = [(run, name) for run, name in rows if run.id not in seen]
        found += below
        level = [run.id for run, _ in below]
        seen.update(level)
    return found[:MAX_RUNS]
