"""Workflows in the database: create, update, delete, clone, restore. Every change that
alters the definition adds an immutable version; every mutation is audited.

Functions add and flush; the route that calls them owns the transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal, require_owner_or_admin
from plait.db import ids
from plait.db.models import Run, Workflow, WorkflowTag, WorkflowVersion
from plait.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from plait.events import outbox
from plait.workflows.schedule import first_fire_after
from plait.workflows.spec import NAME_PATTERN, WorkflowSpec, problems
from plait.workflows.triggers import trigger_problems
from plait.workflows.versions import content_hash, diff


def validate(spec: WorkflowSpec) -> dict[str, Any]:
    """The canonical definition, or InvalidInput listing every problem."""
    found = problems(spec)
    if found:
        raise InvalidInput(found)
    return spec.canonical()


async def validate_in(
    session: AsyncSession, spec: WorkflowSpec, wf: Workflow | None
) -> dict[str, Any]:
    """`validate`, with the rules that need the other workflows (triggers), all at once."""
    found = problems(spec)
    found += await trigger_problems(session, spec, wf.id if wf else None, wf.spec if wf else None)
    if found:
        raise InvalidInput(found)
    return spec.canonical()


async def get(session: AsyncSession, ref: str, *, lock: bool = False) -> Workflow:
    """A workflow by id (ASCII digits) or by name (names start with a letter, so never
    ambiguous). Anything else names no workflow."""
    if ids.is_digits(ref):
        workflow_id = ids.parse_id(ref)
        if workflow_id is None:
            raise NotFound(f"no workflow {ref!r}")
        query = select(Workflow).where(Workflow.id == workflow_id)
    elif re.fullmatch(NAME_PATTERN, ref):
        query = select(Workflow).where(Workflow.name == ref)
    else:
        raise NotFound(f"no workflow {ref!r}")
    if lock:
        query = query.with_for_update()
    wf = (await session.execute(query)).scalar()
    if wf is None:
        raise NotFound(f"no workflow {ref!r}")
    return wf


async def get_for_edit(session: AsyncSession, ref: str, who: Principal) -> Workflow:
    """A workflow locked for change, once `who` is known to be allowed to change it."""
    wf = await get(session, ref, lock=True)
    require_owner_or_admin(who, wf.owner_id, "workflow")
    return wf


async def get_version(session: AsyncSession, wf: Workflow, number: int) -> WorkflowVersion:
    version = (
        await session.execute(
            select(WorkflowVersion).where(
                WorkflowVersion.workflow_id == wf.id, WorkflowVersion.version == number
            )
        )
    ).scalar()
    if version is None:
        raise NotFound(f"workflow {wf.name!r} has no version {number}")
    return version


async def create(
    session: AsyncSession,
    who: Principal,
    spec: WorkflowSpec,
    *,
    paused: bool = False,
    source: dict[str, Any] | None = None,
    message: str | None = None,
) -> Workflow:
    definition = await validate_in(session, spec, None)
    await _ensure_name_free(session, spec.name)
    wf = Workflow(name=spec.name, owner_id=who.id, paused=paused, current_version=1)
    _apply(wf, definition)
    session.add(wf)
    await _flush_unique(session, spec.name)
    await _set_tags(session, wf.id, definition["tags"])
    if message is None:
        message = f"cloned from {source['name']} v{source['version']}" if source else "created"
    _add_version(session, wf, definition, who, message, source)
    audit.record(session, who, "workflow.create", "workflow", wf.id, name=wf.name, source=source)
    outbox.record(session, "workflow.created", workflow_id=wf.id, user_id=who.id, name=wf.name)
    return wf


async def update(
    session: AsyncSession,
    who: Principal,
    wf: Workflow,
    spec: WorkflowSpec,
    *,
    if_match: int | None = None,
    paused: bool | None = None,
    message: str = "",
) -> bool:
    """Save `spec` as the definition; True when that made a new version (not a no-op)."""
    require_owner_or_admin(who, wf.owner_id, "workflow")
    if if_match is not None and if_match != wf.current_version:
        raise PreconditionFailed(
            f"workflow {wf.name!r} is at version {wf.current_version}, not {if_match}; "
            "reload it and apply your change again",
            current_version=wf.current_version,
        )
    definition = await validate_in(session, spec, wf)
    changes = diff(wf.spec, definition)
    changed = content_hash(definition) != content_hash(wf.spec)
    if changed:
        if spec.name != wf.name:
            await _ensure_name_free(session, spec.name)
        _apply(wf, definition)
        wf.current_version += 1
        await _set_tags(session, wf.id, definition["tags"])
        _add_version(session, wf, definition, who, message or "updated", None)
    if paused is not None and paused != wf.paused:
        wf.paused = paused
        if not paused and not wf.spec.get("catchup"):
            reschedule(wf, wf.schedule, wf.timezone)  # missed fire times are not owed
        changes["fields"]["paused"] = {"from": not paused, "to": paused}
    if changed or paused is not None:
        wf.updated_at = datetime.now(UTC)
        await _flush_unique(session, wf.name)
        audit.record(
            session,
            who,
            "workflow.update",
            "workflow",
            wf.id,
            name=wf.name,
            version=wf.current_version,
            **_summary(changes),
        )
        outbox.record(session, "workflow.updated", workflow_id=wf.id, user_id=who.id,
                      name=wf.name, version=wf.current_version, paused=wf.paused)  # fmt: skip
    return changed


async def remove(session: AsyncSession, who: Principal, wf: Workflow) -> list[int]:
    """Delete the workflow with its versions and runs. Returns the ids of the deleted runs,
    whose files the caller removes once the delete is committed."""
    require_owner_or_admin(who, wf.owner_id, "workflow")
    run_ids = list(
        (await session.execute(select(Run.id).where(Run.workflow_id == wf.id))).scalars()
    )
    audit.record(
        session, who, "workflow.delete", "workflow", wf.id, name=wf.name, version=wf.current_version
    )
    outbox.record(session, "workflow.deleted", workflow_id=wf.id, user_id=who.id, name=wf.name)
    await session.delete(wf)
    return run_ids


async def clone(session: AsyncSession, who: Principal, wf: Workflow, name: str) -> Workflow:
    """A new paused workflow owned by `who`, from `wf`'s current version."""
    spec = WorkflowSpec.model_validate({**wf.spec, "name": name})
    source = {"workflow_id": wf.id, "name": wf.name, "version": wf.current_version}
    return await create(session, who, spec, paused=True, source=source)


async def restore(session: AsyncSession, who: Principal, wf: Workflow, number: int) -> bool:
    """Make version `number` current again, as a new version; history stays as it was."""
    old = await get_version(session, wf, number)
    spec = WorkflowSpec.model_validate(old.spec)
    return await update(session, who, wf, spec, message=f"restored from version {number}")


def _apply(wf: Workflow, definition: dict[str, Any]) -> None:
    if (definition.get("schedule"), definition["timezone"]) != (wf.schedule, wf.timezone):
        reschedule(wf, definition.get("schedule"), definition["timezone"])
    wf.spec = definition
    wf.name = definition["name"]
    wf.description = definition["description"]
    wf.tags = definition["tags"]
    wf.schedule = definition.get("schedule")
    wf.timezone = definition["timezone"]
    wf.retention_days = definition.get("retention_days")


def reschedule(wf: Workflow, schedule: str | None, timezone: str) -> None:
    """Point the workflow's next cron run at the schedule's next fire time from now."""
    wf.next_fire_at = first_fire_after(schedule, timezone, datetime.now(UTC))


def _add_version(
    session: AsyncSession,
    wf: Workflow,
    definition: dict[str, Any],
    who: Principal,
    message: str,
    source: dict[str, Any] | None,
) -> None:
    session.add(
        WorkflowVersion(
            workflow_id=wf.id,
            version=wf.current_version,
            spec=definition,
            content_hash=content_hash(definition),
            created_by=who.id,
            message=message,
            source=source,
        )
    )


async def _set_tags(session: AsyncSession, workflow_id: int, tags: list[str]) -> None:
    await session.execute(delete(WorkflowTag).where(WorkflowTag.workflow_id == workflow_id))
    session.add_all(WorkflowTag(workflow_id=workflow_id, tag=t) for t in tags)


async def _ensure_name_free(session: AsyncSession, name: str) -> None:
    taken = await session.scalar(select(Workflow.id).where(Workflow.name == name))
    if taken is not None:
        raise Conflict(f"a workflow named {name!r} exists already", workflow_id=taken)


async def _flush_unique(session: AsyncSession, name: str) -> None:
    """Flush; a concurrent insert of the same name surfaces as 409, not as a database error."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a workflow named {name!r} exists already") from exc


def _summary(changes: dict[str, Any]) -> dict[str, Any]:
    """What changed, by name only: audit events never copy task code or env values."""
    tasks = changes["tasks"]
    return {
        "fields": sorted(changes["fields"]),
        "tasks_added": tasks["added"],
        "tasks_removed": tasks["removed"],
        "tasks_changed": sorted(tasks["changed"]),
    }
