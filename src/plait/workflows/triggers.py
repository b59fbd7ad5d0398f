"""The rules of `triggers` that need the other workflows: the workflows they name exist, and
no chain of triggers leads back to where it started (which would run forever).

Edges run from a workflow to the ones its runs start: when `train` declares a trigger on
`prepare`, the edge is prepare -> train. Saving a workflow can only close a cycle through
itself, so it is enough to walk up from the workflows it triggers on and look for its name.
"""

from __future__ import annotations

from collections import deque

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import Workflow
from plait.errors import FieldError, did_you_mean
from plait.workflows.spec import WorkflowSpec


class _Upstreams:
    """Each workflow's trigger sources by name, read once, with `spec` standing in for the
    workflow being saved (whose row still holds its previous definition and name)."""

    def __init__(self, session: AsyncSession, spec: WorkflowSpec, workflow_id: int | None):
        self.session = session
        self.workflow_id = workflow_id
        self.cache: dict[str, list[str] | None] = {spec.name: [t.workflow for t in spec.triggers]}

    async def of(self, name: str) -> list[str] | None:
        """The workflows `name` triggers on, or None when there is no workflow `name`."""
        if name not in self.cache:
            row = (
                await self.session.execute(
                    select(Workflow.id, Workflow.spec).where(Workflow.name == name)
                )
            ).first()
            if row is None or row.id == self.workflow_id:
                # (The saved workflow's old name stops existing when it is renamed.)
                self.cache[name] = None
            else:
                self.cache[name] = [t["workflow"] for t in _triggers(row.spec)]
        return self.cache[name]


def _triggers(spec: dict[str, object]) -> list[dict[str, str]]:
    found = spec.get("triggers", [])
    return found if isinstance(found, list) else []


async def trigger_problems(
    session: AsyncSession,
    spec: WorkflowSpec,
    workflow_id: int | None,
    current: dict[str, object] | None = None,
) -> list[FieldError]:
    """Triggers on workflows that do not exist, and triggers that close a cycle.

    A trigger the `current` definition has already is not refused when its workflow has gone
    since (deleted or renamed): it starts nothing, and refusing it would block every other
    change of this workflow, pausing included, until someone edits the trigger.
    """
    graph = _Upstreams(session, spec, workflow_id)
    kept = {t["workflow"] for t in _triggers(current or {})}
    out: list[FieldError] = []
    for i, trigger in enumerate(spec.triggers):
        loc: tuple[str | int, ...] = ("triggers", i, "workflow")
        if trigger.workflow == spec.name:
            continue  # a trigger on itself: `spec.problems` reports it
        if await graph.of(trigger.workflow) is None:
            if trigger.workflow not in kept:
                hint = did_you_mean(trigger.workflow, await _names(session, workflow_id))
                msg = f"no workflow named {trigger.workflow!r}{hint}"
                out.append(FieldError(loc, msg, "unknown_workflow"))
        elif path := await _path_back(graph, spec.name, trigger.workflow):
            cycle = " -> ".join([spec.name, *path, spec.name])
            out.append(FieldError(loc, f"trigger cycle: {cycle}", "cycle"))
    return out


async def _names(session: AsyncSession, workflow_id: int | None) -> list[str]:
    """The other workflows' names (only read when a trigger names none of them)."""
    query = select(Workflow.name).where(Workflow.id != (workflow_id or 0))
    return list((await session.execute(query)).scalars())


async def _path_back(graph: _Upstreams, name: str, start: str) -> list[str] | None:
    """The shortest chain of workflows that `name`'s runs start, ending at `start`, if any."""
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        sources = await graph.of(node) or []
        if name in sources:
            path: list[str] = []
            step: str | None = node
            while step is not None:
                path.append(step)
                step = parent[step]
            return path
        for source in sources:
            if source not in parent:
                parent[source] = node
                queue.append(source)
    return None
