"""Inbound hooks: managed under /api/v1/workflows/{ref}/hooks by the workflow's owner (or an
admin); received at POST /api/v1/hooks/{public_id}, authenticated by the hook, not a user."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response, status
from pydantic import BaseModel, Field, StrictBool, StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.api.deps import Context, Ctx, Editor
from plait.api.inputs import IdPath
from plait.api.openapi import errors
from plait.api.schemas import PatchBody
from plait.api.workflows import Ref
from plait.auth.roles import Principal, require_owner_or_admin
from plait.db.models import Hook, Workflow
from plait.errors import FieldError, InvalidInput, NotAuthenticated, NotFound
from plait.orchestration import hooks
from plait.orchestration.runs import get_run
from plait.workflows import store
from plait.workflows.spec import Name, Text

log = logging.getLogger("plait.hooks")
router = APIRouter(tags=["hooks"])
HookId = IdPath
PublicId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Pointer = Annotated[Text, StringConstraints(max_length=1000)]
Mapping = Annotated[
    dict[Name, Pointer],
    Field(max_length=100, description="Param name -> JSON pointer into the delivery's body."),
]
# No dots: the signed message joins timestamp, delivery id and body with dots, and a dot in
# the id would let one message read as another id with another body.
DELIVERY_PATTERN = r"^[A-Za-z0-9_:+/=-]+$"


class HookCreate(BaseModel):
    model_config = {"extra": "forbid"}

    name: Text = Field(min_length=1, max_length=100)
    params: Mapping = Field(default_factory=dict)


class HookPatch(PatchBody):
    name: Text | None = Field(default=None, min_length=1, max_length=100)
    params: Mapping | None = None
    enabled: StrictBool | None = None


class HookOut(BaseModel):
    id: int
    public_id: str
    url: str = Field(
        description="Where to POST deliveries: an absolute URL on the server's public address "
        "(PLAIT_PUBLIC_URL, or where it listens)."
    )
    name: str
    workflow_id: int
    params: dict[str, str]
    enabled: bool
    owner_id: int | None
    created_at: datetime


class HookCreated(HookOut):
    secret: str = Field(description="Signs deliveries (HMAC-SHA256). Shown this once.")
    token: str = Field(description="Alternative to signing: Bearer token. Shown this once.")


class DeliveryOut(BaseModel):
    run_id: int | None
    workflow: str
    status: str | None
    params: dict[str, Any] | None
    delivery_id: str
    duplicate: bool = Field(description="This delivery id came before; nothing new started.")


def hook_out(hook: Hook, base_url: str) -> dict[str, Any]:
    """`base_url` is `Settings.base_url`: the URL is pasted into another system (CI, a git
    host), which cannot resolve a path."""
    return {
        **{c: getattr(hook, c) for c in HookOut.model_fields if hasattr(hook, c)},
        "url": f"{base_url}/api/v1/hooks/{hook.public_id}",
    }


HOOKS = "/api/v1/workflows/{ref}/hooks"


@router.post(
    HOOKS, status_code=status.HTTP_201_CREATED, response_model=HookCreated, responses=errors(409)
)
async def create_hook(ref: Ref, body: HookCreate, who: Editor, ctx: Ctx) -> Any:
    """A hook that starts runs of this workflow. The `secret` and `token` are returned once."""
    async with ctx.db.write() as session:
        wf = await store.get_for_edit(session, ref, who)
        new = await hooks.create_hook(session, who, wf, body.name, body.params)
        out = hook_out(new.hook, ctx.settings.base_url)
    return {**out, "secret": new.hook.secret, "token": new.token}


@router.get(HOOKS, response_model=list[HookOut])
async def list_hooks(ref: Ref, who: Editor, ctx: Ctx) -> Any:
    """The workflow's hooks, without their secrets."""
    async with ctx.db.read() as session:
        wf = await _owned(session, ref, who)
        return [hook_out(h, ctx.settings.base_url) for h in await hooks.list_hooks(session, wf)]


@router.patch(f"{HOOKS}/{{hook_id}}", response_model=HookOut)
async def update_hook(ref: Ref, hook_id: HookId, body: HookPatch, who: Editor, ctx: Ctx) -> Any:
    """Rename, remap params, or disable (`enabled: false`: deliveries get 404) a hook."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    async with ctx.db.write() as session:
        wf = await store.get_for_edit(session, ref, who)
        hook = await hooks.get_hook(session, wf, hook_id)
        await hooks.update_hook(session, who, wf, hook, changes)
        return hook_out(hook, ctx.settings.base_url)


@router.delete(f"{HOOKS}/{{hook_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_hook(ref: Ref, hook_id: HookId, who: Editor, ctx: Ctx) -> None:
    async with ctx.db.write() as session:
        wf = await store.get_for_edit(session, ref, who)
        await hooks.delete_hook(session, who, wf, await hooks.get_hook(session, wf, hook_id))


# --- the receiver ---------------------------------------------------------------------------


@router.post(
    "/api/v1/hooks/{public_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=DeliveryOut,
    responses=errors(401, 409, 413),
)
async def receive(
    public_id: PublicId,
    request: Request,
    response: Response,
    ctx: Ctx,
    x_plait_delivery: Annotated[
        str | None, Header(max_length=200, pattern=DELIVERY_PATTERN)
    ] = None,
    x_plait_timestamp: Annotated[str | None, Header(max_length=20)] = None,
    x_plait_signature: Annotated[str | None, Header(max_length=100)] = None,
    authorization: Annotated[str | None, Header(max_length=4096)] = None,
) -> Any:
    """Start a run of the hook's workflow, params taken from the JSON body by the hook's
    pointers. Signed (`X-Plait-Timestamp`, `X-Plait-Signature`) or with the hook's token
    (`Authorization: Bearer`); `X-Plait-Delivery` again returns its run with 200."""
    body = await request.body()
    creds = hooks.Credentials(x_plait_timestamp, x_plait_signature, _bearer(authorization))
    # Checked on a read session first: refused deliveries never queue for the writer.
    async with ctx.db.read() as session:
        hook = await hooks.find(session, public_id)
        _authenticate(ctx, hook, creds, x_plait_delivery or "", body)
        hook_id, mapping = hook.id, dict(hook.params)
    if x_plait_delivery is None:  # asked for after authentication: strangers learn nothing
        raise InvalidInput([FieldError(("header", "X-Plait-Delivery"), "required", "missing")])
    run_id, duplicate = await _deliver(ctx, public_id, hook_id, x_plait_delivery, mapping, body)
    if duplicate:
        response.status_code = status.HTTP_200_OK
    elif run_id is not None:
        ctx.wake(run_id)
    return await _delivery_out(ctx, run_id, x_plait_delivery, duplicate, response)


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _authenticate(ctx: Context, hook: Hook, creds: hooks.Credentials, delivery: str,
                  body: bytes) -> None:  # fmt: skip
    try:
        hooks.authenticate(hook, creds, delivery, body, time.time(),
                           ctx.settings.hook_tolerance_seconds)  # fmt: skip
    except NotAuthenticated as exc:
        # The reason and the hook, never what was sent: a signature or token is a credential.
        log.warning("hook %s refused delivery %s: %s", hook.public_id, delivery, exc.detail)
        raise


async def _deliver(
    ctx: Context, public_id: str, hook_id: int, delivery: str, mapping: dict[str, str],
    body: bytes,
) -> tuple[int | None, bool]:  # fmt: skip
    """(run id, whether the delivery came before)."""
    try:
        async with ctx.db.write() as session:
            hook = await hooks.find(session, public_id)  # it may have gone meanwhile
            earlier = await hooks.seen(session, hook_id, delivery)
            if earlier is not None:
                return earlier.run_id, True
            params = hooks.map_payload(mapping, body)
            return await hooks.deliver(session, hook, delivery, params), False
    except IntegrityError:  # the same delivery raced us; it won
        async with ctx.db.read() as session:
            found = await hooks.seen(session, hook_id, delivery)
        assert found is not None
        return found.run_id, True


async def _delivery_out(
    ctx: Context, run_id: int | None, delivery: str, duplicate: bool, response: Response
) -> dict[str, Any]:
    out: dict[str, Any] = {"run_id": run_id, "workflow": "", "status": None, "params": None,
                           "delivery_id": delivery, "duplicate": duplicate}  # fmt: skip
    if run_id is None:
        return out
    async with ctx.db.read() as session:
        try:
            run = await get_run(session, run_id)
        except NotFound:
            return out  # deleted since
        wf = await session.get(Workflow, run.workflow_id)
    response.headers["Location"] = f"/api/v1/runs/{run_id}"
    return {**out, "workflow": wf.name if wf else "", "status": run.status, "params": run.params}


async def _owned(session: AsyncSession, ref: str, who: Principal) -> Workflow:
    """Hooks are listed to those who may change them: their secrets' holders start runs."""
    wf = await store.get(session, ref)
    require_owner_or_admin(who, wf.owner_id, "workflow")
    return wf
