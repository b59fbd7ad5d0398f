"""Channels and rules in the database: create, change, delete, each audited.

Functions add and flush; the route that calls them owns the transaction. Editors change the
channels and rules they own, admins all of them. Audit summaries name fields, never values
of `secret`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal, require_owner_or_admin
from plait.db.models import Channel, Rule
from plait.errors import Conflict, FieldError, InvalidInput, NotFound
from plait.notifications import config as channel_config
from plait.notifications.rules import EVENTS
from plait.workflows import store as workflows


async def get_channel(session: AsyncSession, channel_id: int) -> Channel:
    channel = await session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(f"no channel {channel_id}")
    return channel


async def channel_for_edit(session: AsyncSession, channel_id: int, who: Principal) -> Channel:
    channel = await get_channel(session, channel_id)
    require_owner_or_admin(who, channel.owner_id, "channel")
    return channel


async def _flush_named(session: AsyncSession, name: str) -> None:
    """Flush; a name taken (even by a concurrent insert) is a 409, not a database error."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a channel named {name!r} exists already") from exc


async def create_channel(
    session: AsyncSession,
    who: Principal,
    *,
    name: str,
    kind: str,
    config: dict[str, Any],
    secret: str | None,
    enabled: bool,
) -> Channel:
    checked = channel_config.validate(kind, config, secret)
    channel = Channel(
        name=name, kind=kind, config=checked, secret=secret, enabled=enabled, owner_id=who.id
    )
    session.add(channel)
    await _flush_named(session, name)
    audit.record(session, who, "channel.create", "channel", channel.id, name=name, kind=kind)
    return channel


async def update_channel(
    session: AsyncSession, who: Principal, channel: Channel, changes: dict[str, Any]
) -> Channel:
    """Apply `changes` (name, config, secret, enabled). `config` replaces the whole config;
    `secret` absent keeps the stored one, null removes it."""
    secret = changes.get("secret", channel.secret)
    config = changes.get("config", channel.config)
    if "config" in changes or "secret" in changes:
        channel.config = channel_config.validate(channel.kind, config, secret)
        channel.secret = secret
    if "name" in changes:
        channel.name = changes["name"]
    if "enabled" in changes:
        channel.enabled = changes["enabled"]
    channel.updated_at = datetime.now(UTC)
    await _flush_named(session, channel.name)
    audit.record(
        session,
        who,
        "channel.update",
        "channel",
        channel.id,
        name=channel.name,
        fields=sorted(changes),
    )
    return channel


async def delete_channel(session: AsyncSession, who: Principal, channel: Channel) -> None:
    """Its rules and its delivery history go with it."""
    await session.delete(channel)
    audit.record(session, who, "channel.delete", "channel", channel.id, name=channel.name)


# --- rules --------------------------------------------------------------------------------


async def get_rule(session: AsyncSession, rule_id: int) -> Rule:
    rule = await session.get(Rule, rule_id)
    if rule is None:
        raise NotFound(f"no rule {rule_id}")
    return rule


async def rule_for_edit(session: AsyncSession, rule_id: int, who: Principal) -> Rule:
    rule = await get_rule(session, rule_id)
    require_owner_or_admin(who, rule.owner_id, "rule")
    return rule


async def _scope_value(session: AsyncSession, scope: str, value: str | None) -> str | None:
    """What a rule's scope keeps: nothing for all, the workflow's id (names change), a tag."""
    loc = ("scope_value",)
    if scope == "all":
        if value is not None:
            raise InvalidInput([FieldError(loc, "scope all takes no scope_value")])
        return None
    if value is None:
        what = "a workflow id or name" if scope == "workflow" else "a tag"
        raise InvalidInput([FieldError(loc, f"scope {scope} needs {what}", "missing")])
    if scope == "tag":
        return value
    try:
        return str((await workflows.get(session, value)).id)
    except NotFound as exc:
        raise InvalidInput([FieldError(loc, exc.detail, "not_found")]) from exc


async def _check_channel(session: AsyncSession, channel_id: int) -> None:
    if await session.get(Channel, channel_id) is None:
        raise InvalidInput([FieldError(("channel_id",), f"no channel {channel_id}", "not_found")])


def _events(events: list[str]) -> list[str]:
    return [e for e in EVENTS if e in set(events)]  # one each, in a stable order


async def create_rule(
    session: AsyncSession,
    who: Principal,
    *,
    name: str,
    channel_id: int,
    scope: str,
    scope_value: str | None,
    events: list[str],
    enabled: bool,
) -> Rule:
    """A rule may send to any channel: channels are shared destinations; what a rule sends
    (run outcomes) every viewer may read anyway."""
    await _check_channel(session, channel_id)
    rule = Rule(
        name=name,
        channel_id=channel_id,
        scope=scope,
        scope_value=await _scope_value(session, scope, scope_value),
        events=_events(events),
        enabled=enabled,
        owner_id=who.id,
    )
    session.add(rule)
    await session.flush()
    audit.record(session, who, "rule.create", "rule", rule.id, name=name, channel_id=channel_id)
    return rule


async def update_rule(
    session: AsyncSession, who: Principal, rule: Rule, changes: dict[str, Any]
) -> Rule:
    if "channel_id" in changes:
        await _check_channel(session, changes["channel_id"])
        rule.channel_id = changes["channel_id"]
    if "scope" in changes or "scope_value" in changes:
        scope = changes.get("scope", rule.scope)
        # A new scope drops the old value: a workflow id is no tag.
        kept = rule.scope_value if scope == rule.scope else None
        rule.scope_value = await _scope_value(session, scope, changes.get("scope_value", kept))
        rule.scope = scope
    if "events" in changes:
        rule.events = _events(changes["events"])
    for field in ("name", "enabled"):
        if field in changes:
            setattr(rule, field, changes[field])
    await session.flush()
    audit.record(
        session, who, "rule.update", "rule", rule.id, name=rule.name, fields=sorted(changes)
    )
    return rule


async def delete_rule(session: AsyncSession, who: Principal, rule: Rule) -> None:
    await session.delete(rule)
    audit.record(session, who, "rule.delete", "rule", rule.id, name=rule.name)
