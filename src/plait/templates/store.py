"""Templates: the built-in catalog and users' rows behind one set of functions (find, list,
create, change, delete, instantiate). A private row is seen by its owner and admins only;
built-ins are read-only.

Functions add and flush; the route that calls them owns the transaction.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal, Role, require_owner_or_admin
from plait.db import ids
from plait.db.models import AuditEvent, Template, User, Workflow
from plait.errors import Conflict, FieldError, InvalidInput, NotFound
from plait.events import outbox
from plait.orchestration.params import resolve_params
from plait.templates.catalog import BUILTIN_PREFIX, Builtin, builtins
from plait.workflows import store as workflows
from plait.workflows.spec import NAME_PATTERN, parse

Found = Builtin | Template
INSTANTIATED = "template.instantiate"  # the audit action; built-ins' usage is counted from it


def _visible(who: Principal) -> ColumnElement[bool]:
    if who.role == Role.admin:
        return true()
    return Template.public.is_(True) | (Template.owner_id == who.id)


def _not_found(ref: str) -> NotFound:
    return NotFound(f"no template {ref!r}")


async def get(session: AsyncSession, ref: str, who: Principal) -> Found:
    """A template by id (digits), `builtin:<name>` or name, if `who` may see it (a private
    template of someone else is not found, rather than refused: its name stays private)."""
    if ref.startswith(BUILTIN_PREFIX) or ref in builtins():
        found = builtins().get(ref.removeprefix(BUILTIN_PREFIX))
        if found is None:
            raise _not_found(ref)
        return found
    if ids.is_digits(ref):
        row_id = ids.parse_id(ref)
        where = Template.id == row_id if row_id is not None else None
    else:
        where = Template.name == ref if re.fullmatch(NAME_PATTERN, ref) else None
    if where is None:
        raise _not_found(ref)
    row = (await session.execute(select(Template).where(where, _visible(who)))).scalar()
    if row is None:
        raise _not_found(ref)
    return row


def template_id(found: Found) -> str:
    return found.id if isinstance(found, Builtin) else str(found.id)


def rows_query(who: Principal, q: str | None, category: str | None) -> Select[Template, str]:
    """Visible rows matching the filters, with their owner's name."""
    query = (
        select(Template, User.username)
        .outerjoin(User, User.id == Template.owner_id)
        .where(_visible(who))
    )
    if q:
        query = query.where(
            Template.name.icontains(q, autoescape=True)
            | Template.description.icontains(q, autoescape=True)
        )
    if category:
        query = query.where(Template.category == category)
    return query


def matching_builtins(q: str | None, category: str | None) -> list[Builtin]:
    text = (q or "").casefold()
    return [
        b
        for b in builtins().values()
        if (not category or b.category == category)
        and (text in b.name.casefold() or text in b.description.casefold())
    ]


async def categories(session: AsyncSession, who: Principal) -> list[str]:
    """Every category a template `who` sees is in: what the gallery filters by."""
    rows = await session.scalars(select(Template.category).where(_visible(who)).distinct())
    return sorted({*rows, *(b.category for b in builtins().values())})


async def builtin_usage(session: AsyncSession) -> dict[str, int]:
    """Workflows made from each built-in: its instantiations in the audit log (built-ins
    have no row to count in)."""
    query = (
        select(AuditEvent.target_id, func.count())
        .where(
            AuditEvent.target_type == "template",
            AuditEvent.action == INSTANTIATED,
            AuditEvent.target_id.startswith(BUILTIN_PREFIX),
        )
        .group_by(AuditEvent.target_id)
    )
    return {str(target): count for target, count in await session.execute(query)}


async def owner_name(session: AsyncSession, found: Found) -> str | None:
    if isinstance(found, Builtin) or found.owner_id is None:
        return None
    user = await session.get(User, found.owner_id)
    return user.username if user else None


def checked_spec(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` as a workflow named `name` would store it, or 422 naming each field under
    `spec` (`spec.tasks.train.code`)."""
    try:
        return workflows.validate(parse({**spec, "name": name}))
    except InvalidInput as exc:
        raise InvalidInput([_under_spec(e) for e in exc.errors]) from None


def _under_spec(error: FieldError) -> FieldError:
    named = ("spec", *error.named) if error.named else None
    return replace(error, loc=("spec", *error.loc), named=named)


async def _ensure_name_free(session: AsyncSession, name: str, row_id: int | None = None) -> None:
    if name in builtins():
        raise Conflict(f"{name!r} is the name of a built-in template; choose another")
    taken = await session.scalar(select(Template.id).where(Template.name == name))
    if taken is not None and taken != row_id:  # no id said: the other may be private
        raise Conflict(f"a template named {name!r} exists already")


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent insert of the same name
        raise Conflict(f"a template named {name!r} exists already") from exc


async def create(
    session: AsyncSession,
    who: Principal,
    name: str,
    spec: dict[str, Any],
    *,
    category: str,
    description: str | None = None,
    public: bool = True,
    source: dict[str, Any] | None = None,
) -> Template:
    definition = checked_spec(name, spec)
    await _ensure_name_free(session, name)
    if description is None:
        description = definition["description"]
    row = Template(name=name, description=description, category=category, author=who.username,
                   owner_id=who.id, public=public, usage_count=0, spec=definition)  # fmt: skip
    session.add(row)
    await _flush_unique(session, name)
    audit.record(session, who, "template.create", "template", row.id, name=name,
                 category=category, public=public, source=source)  # fmt: skip
    outbox.record(session, "template.created", user_id=who.id, **_event_data(row))
    return row


def _event_data(row: Template) -> dict[str, Any]:
    """What an event tells of a template. Every user hears every event (topic `*`): a
    private template's name and category stay out of it."""
    seen = {"name": row.name, "category": row.category} if row.public else {}
    return {"template_id": row.id, "public": row.public, **seen}


def editable(found: Found, who: Principal) -> Template:
    """The row, once `who` may change it: built-ins never change."""
    if isinstance(found, Builtin):
        raise Conflict(
            f"{found.id} is a built-in template and cannot be changed or deleted; "
            "instantiate it, or save a copy with POST /api/v1/templates"
        )
    require_owner_or_admin(who, found.owner_id, "template")
    return found


async def change(
    session: AsyncSession, who: Principal, row: Template, changes: dict[str, Any]
) -> None:
    """Apply the given fields (name, description, category, public, spec)."""
    name = changes.get("name", row.name)
    if name != row.name:
        await _ensure_name_free(session, name, row.id)
    if "spec" in changes or name != row.name:
        row.spec = checked_spec(name, changes.get("spec", row.spec))
    for field in ("name", "description", "category", "public"):
        if field in changes:
            setattr(row, field, changes[field])
    row.updated_at = datetime.now(UTC)
    await _flush_unique(session, name)
    audit.record(session, who, "template.update", "template", row.id, name=row.name,
                 fields=sorted(changes))  # fmt: skip


async def remove(session: AsyncSession, who: Principal, row: Template) -> None:
    audit.record(session, who, "template.delete", "template", row.id, name=row.name)
    outbox.record(session, "template.deleted", user_id=who.id, **_event_data(row))
    await session.delete(row)


async def instantiate(
    session: AsyncSession,
    who: Principal,
    found: Found,
    name: str,
    params: dict[str, Any],
    description: str | None = None,
) -> Workflow:
    """A new workflow from the template whose param defaults are `params` (checked against
    the template's schema: 422 naming each field), through the workflows' own create (its
    version, audit and event); 409 when the name is taken."""
    schema: dict[str, Any] = found.spec.get("params", {})
    values = resolve_params(schema, params)
    spec = {
        **found.spec,
        "name": name,
        "params": {k: {**p, "default": values[k]} if k in values else p for k, p in schema.items()},
    }
    if description is not None:
        spec["description"] = description
    ref = template_id(found)
    source = {"template": ref, "name": found.name}
    message = f"created from template {found.name}"
    wf = await workflows.create(session, who, parse(spec), source=source, message=message)
    if isinstance(found, Template):
        await session.execute(
            update(Template)
            .where(Template.id == found.id)
            .values(usage_count=Template.usage_count + 1)
            .execution_options(synchronize_session=False)
        )
    audit.record(session, who, INSTANTIATED, "template", ref, name=found.name, workflow=name,
                 workflow_id=wf.id, params=sorted(params))  # fmt: skip
    return wf


async def save_workflow(
    session: AsyncSession,
    who: Principal,
    wf: Workflow,
    name: str,
    *,
    category: str,
    description: str | None,
    public: bool,
) -> Template:
    """A template from the workflow's current definition."""
    source = {"workflow_id": wf.id, "name": wf.name, "version": wf.current_version}
    return await create(session, who, name, wf.spec, category=category,
                        description=description, public=public, source=source)  # fmt: skip
