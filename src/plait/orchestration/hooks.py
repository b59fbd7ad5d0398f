"""Inbound hooks: a POST to /api/v1/hooks/{public_id}, signed with the hook's secret or
carrying its token, starts a run of the hook's workflow with params taken from the body.

Signing: `X-Plait-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<delivery id>.<body>")>`
with `X-Plait-Timestamp` (unix seconds) and `X-Plait-Delivery`. The signature covers the
delivery id, so a captured request cannot be replayed under a new id: resent as it is, it is
the same delivery (which starts nothing new), and once its timestamp is stale it is refused.

Functions add and flush; the route owns the transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal
from plait.auth.tokens import sha256
from plait.db.models import Hook, HookDelivery, Workflow
from plait.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    did_you_mean,
)
from plait.orchestration.pointer import PointerError, pointer_error, resolve
from plait.orchestration.runs import create_run
from plait.workflows.spec import is_plain_json

TOKEN_PREFIX = "plh_"  # noqa: S105 (a prefix, not a secret)
MAX_HOOKS = 100  # per workflow: lists of them need no paging


@dataclass(frozen=True)
class NewHook:
    hook: Hook
    token: str  # returned once; only its hash is kept


@dataclass(frozen=True)
class Credentials:
    """What a delivery brings to prove it comes from someone who holds the hook's secrets."""

    timestamp: str | None = None
    signature: str | None = None
    token: str | None = None


def sign(secret: str, timestamp: int | str, delivery_id: str, body: bytes) -> str:
    """The `X-Plait-Signature` value of a delivery."""
    message = f"{timestamp}.{delivery_id}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def mapping_problems(mapping: dict[str, str], wf: Workflow) -> list[FieldError]:
    """Params the workflow does not take, and pointers that are not pointers."""
    out = []
    for name, pointer in mapping.items():
        loc: tuple[str | int, ...] = ("params", name)
        params = wf.spec.get("params", {})
        if name not in params:
            why = f"workflow {wf.name!r} has no param {name!r}{did_you_mean(name, params)}"
            out.append(FieldError(loc, why, "unknown"))
        elif error := pointer_error(pointer):
            out.append(FieldError(loc, error, "pointer"))
    return out


async def create_hook(
    session: AsyncSession, who: Principal, wf: Workflow, name: str, mapping: dict[str, str]
) -> NewHook:
    if problems := mapping_problems(mapping, wf):
        raise InvalidInput(problems)
    count = await session.scalar(select(func.count()).where(Hook.workflow_id == wf.id)) or 0
    if count >= MAX_HOOKS:
        raise Conflict(f"workflow {wf.name!r} has {count} hooks, the most it may have")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    hook = Hook(public_id=secrets.token_urlsafe(24), name=name, workflow_id=wf.id,
                secret=secrets.token_urlsafe(32), token_hash=sha256(token), params=mapping,
                enabled=True, owner_id=who.id)  # fmt: skip
    session.add(hook)
    await session.flush()
    audit.record(session, who, "hook.create", "hook", hook.id, workflow=wf.name, name=name)
    return NewHook(hook, token)


async def list_hooks(session: AsyncSession, wf: Workflow) -> list[Hook]:
    rows = await session.execute(select(Hook).where(Hook.workflow_id == wf.id).order_by(Hook.id))
    return list(rows.scalars())


async def get_hook(session: AsyncSession, wf: Workflow, hook_id: int) -> Hook:
    hook = await session.get(Hook, hook_id)
    if hook is None or hook.workflow_id != wf.id:
        raise NotFound(f"workflow {wf.name!r} has no hook {hook_id}")
    return hook


async def update_hook(
    session: AsyncSession, who: Principal, wf: Workflow, hook: Hook, changes: dict[str, Any]
) -> None:
    """Change `name`, `params` (the whole mapping) or `enabled`."""
    if "params" in changes and (problems := mapping_problems(changes["params"], wf)):
        raise InvalidInput(problems)
    for field, value in changes.items():
        setattr(hook, field, value)
    audit.record(session, who, "hook.update", "hook", hook.id, workflow=wf.name,
                 fields=sorted(changes))  # fmt: skip


async def delete_hook(session: AsyncSession, who: Principal, wf: Workflow, hook: Hook) -> None:
    audit.record(session, who, "hook.delete", "hook", hook.id, workflow=wf.name, name=hook.name)
    await session.delete(hook)


# --- receiving ----------------------------------------------------------------------------


async def find(session: AsyncSession, public_id: str) -> Hook:
    """The hook a delivery addresses; a disabled one is as good as none."""
    hook = (await session.execute(select(Hook).where(Hook.public_id == public_id))).scalar()
    if hook is None or not hook.enabled:
        raise NotFound("no such hook")
    return hook


def authenticate(
    hook: Hook, creds: Credentials, delivery_id: str, body: bytes, now: float, tolerance: float
) -> None:
    """NotAuthenticated unless the delivery is signed, recently, with the hook's secret, or
    (when it is not signed at all) carries the hook's token."""
    if creds.signature is not None or creds.timestamp is not None:
        _check_signature(hook.secret, creds, delivery_id, body, now, tolerance)
    elif creds.token is not None and hook.token_hash is not None:
        if not hmac.compare_digest(sha256(creds.token), hook.token_hash):
            raise NotAuthenticated("wrong hook token")
    else:
        raise NotAuthenticated(
            "sign the delivery (X-Plait-Timestamp, X-Plait-Signature) "
            "or send Authorization: Bearer <hook token>"
        )


def _check_signature(
    secret: str, creds: Credentials, delivery_id: str, body: bytes, now: float, tolerance: float
) -> None:
    stamp = creds.timestamp or ""
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise NotAuthenticated("X-Plait-Timestamp must be unix seconds")
    if abs(now - int(stamp)) > tolerance:
        raise NotAuthenticated(f"stale delivery: its timestamp is over {tolerance:g} s from now")
    expected = sign(secret, stamp, delivery_id, body)
    if not hmac.compare_digest(expected.encode(), (creds.signature or "").encode()):
        raise NotAuthenticated("signature does not match")


def map_payload(mapping: dict[str, str], body: bytes) -> dict[str, Any]:
    """The run's params: each param's pointer resolved in the JSON body."""
    if not mapping:
        return {}  # the body is not read, so it need not even be JSON
    try:
        document = json.loads(body or b"null", parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput([FieldError(("body",), f"not JSON: {exc}", "json")]) from None
    params: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, pointer in mapping.items():
        try:
            params[name] = resolve(document, pointer)
        except PointerError:
            msg = f"the payload has nothing at {pointer!r}"
            errors.append(FieldError(("params", name), msg, "pointer"))
    if not errors and not is_plain_json(params):
        errors.append(FieldError(("body",), "no NUL characters, please", "json"))
    if errors:
        raise InvalidInput(errors)
    return params


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def seen(session: AsyncSession, hook_id: int, delivery_id: str) -> HookDelivery | None:
    query = select(HookDelivery).where(
        HookDelivery.hook_id == hook_id, HookDelivery.delivery_id == delivery_id
    )
    return (await session.execute(query)).scalar()


async def deliver(
    session: AsyncSession, hook: Hook, delivery_id: str, params: dict[str, Any]
) -> int:
    """Start the run of a new delivery; returns its id. A concurrent delivery with the same id
    surfaces as IntegrityError at the flush: the caller rolls back and reads the winner."""
    wf = await session.get(Workflow, hook.workflow_id)
    assert wf is not None  # hooks go with their workflow
    if wf.paused:
        # Paused means no automatic runs (cron, chains, hooks). The delivery is not recorded,
        # so the sender may deliver it again once the workflow is resumed.
        raise Conflict(f"workflow {wf.name!r} is paused; resume it to take deliveries")
    run = await create_run(session, wf, params=params, trigger="webhook",
                           description=f"hook {hook.name}")  # fmt: skip
    session.add(HookDelivery(hook_id=hook.id, delivery_id=delivery_id, run_id=run.id))
    await session.flush()
    audit.record(session, None, "hook.deliver", "hook", hook.id, run_id=run.id,
                 delivery_id=delivery_id)  # fmt: skip
    return run.id
