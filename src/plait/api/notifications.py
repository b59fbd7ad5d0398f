"""/api/v1/channels, /api/v1/rules, /api/v1/deliveries: where notifications go, which events
go there, and what was sent. A channel's `secret` is write-only: answers say `has_secret`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import select

from plait import bounded
from plait.api.deps import Ctx, Editor, Viewer
from plait.api.inputs import IdField, IdPath, IdQuery
from plait.api.openapi import errors
from plait.api.schemas import Page, PatchBody
from plait.db import pagination
from plait.db.models import Channel, Delivery, Rule
from plait.notifications import store, worker
from plait.notifications.config import SECRET_MAX, Kind
from plait.workflows.spec import Text

router = APIRouter(tags=["notifications"])

Id = IdPath
ChannelName = Annotated[Text, Field(min_length=1, max_length=100)]
Secret = Annotated[
    str,
    Field(
        max_length=SECRET_MAX,
        pattern=r"^[^\x00]*[^\s\x00][^\x00]*$",  # non-blank, no NUL
        description="Write-only: a Slack webhook URL or bot token, an SMTP password, a webhook "
        "signing key. Never returned.",
    ),
]
EventType = Literal[
    "run.succeeded", "run.failed", "run.cancelled", "task.retrying", "run.duration_exceeded"
]
Scope = Literal["all", "workflow", "tag"]
DeliveryStatus = Literal["pending", "sent", "failed"]


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ChannelName
    kind: Kind
    config: dict[str, Any] = Field(default_factory=dict, description="See docs/notifications.md.")
    secret: Secret | None = None
    enabled: StrictBool = True


class ChannelPatch(PatchBody):
    """Fields to change. `config` replaces the whole config; `secret` left out keeps the
    stored one, `null` removes it."""

    nullable = frozenset({"secret"})

    name: ChannelName | None = None
    config: dict[str, Any] | None = None
    secret: Secret | None = None
    enabled: StrictBool | None = None


class ChannelOut(BaseModel):
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    has_secret: bool
    enabled: bool
    owner_id: int | None
    created_at: datetime
    updated_at: datetime


class TestResult(BaseModel):
    ok: bool
    delivery_id: int
    response_code: int | None
    error: str | None


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ChannelName
    channel_id: IdField
    scope: Scope = "all"
    scope_value: Text | None = Field(
        default=None,
        max_length=100,
        description="For scope workflow: its id or name (kept as the id); for tag: the tag.",
    )
    events: list[EventType] = Field(min_length=1, max_length=10)
    enabled: StrictBool = True


class RulePatch(PatchBody):
    """Fields to change; `scope_value: null` removes it (for scope `all`)."""

    nullable = frozenset({"scope_value"})

    name: ChannelName | None = None
    channel_id: IdField | None = None
    scope: Scope | None = None
    scope_value: Text | None = Field(default=None, max_length=100)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=10)
    enabled: StrictBool | None = None


class RuleOut(BaseModel):
    id: int
    name: str
    channel_id: int
    scope: str
    scope_value: str | None
    events: list[str]
    enabled: bool
    owner_id: int | None
    created_at: datetime


class DeliveryOut(BaseModel):
    id: int
    channel_id: int
    rule_id: int | None
    event_type: str
    run_id: int | None
    payload: dict[str, Any] = Field(description="The facts the message tells.")
    status: str
    attempts: int
    next_attempt_at: datetime | None
    response_code: int | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None


def channel_out(channel: Channel) -> ChannelOut:
    fields = {f: getattr(channel, f) for f in ChannelOut.model_fields if f != "has_secret"}
    return ChannelOut(**fields, has_secret=channel.secret is not None)


def _patch_changes(body: BaseModel) -> dict[str, Any]:
    """Fields sent (null only where it means "remove": PatchBody refused the others)."""
    return body.model_dump(exclude_unset=True)


# --- channels -----------------------------------------------------------------------------


@router.post(
    "/api/v1/channels",
    status_code=status.HTTP_201_CREATED,
    response_model=ChannelOut,
    responses=errors(409),
)
async def create_channel(body: ChannelCreate, who: Editor, ctx: Ctx, response: Response) -> Any:
    async with ctx.db.write() as session:
        channel = await store.create_channel(session, who, **body.model_dump())
    response.headers["Location"] = f"/api/v1/channels/{channel.id}"
    return channel_out(channel)


@router.get("/api/v1/channels", response_model=list[ChannelOut])
async def list_channels(who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        rows = await session.execute(select(Channel).order_by(Channel.name))
        return [channel_out(c) for c in rows.scalars()]


@router.get("/api/v1/channels/{channel_id}", response_model=ChannelOut)
async def get_channel(channel_id: Id, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return channel_out(await store.get_channel(session, channel_id))


@router.patch("/api/v1/channels/{channel_id}", response_model=ChannelOut, responses=errors(409))
async def patch_channel(channel_id: Id, body: ChannelPatch, who: Editor, ctx: Ctx) -> Any:
    async with ctx.db.write() as session:
        channel = await store.channel_for_edit(session, channel_id, who)
        channel = await store.update_channel(session, who, channel, _patch_changes(body))
    return channel_out(channel)


@router.delete("/api/v1/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(channel_id: Id, who: Editor, ctx: Ctx) -> None:
    async with ctx.db.write() as session:
        channel = await store.channel_for_edit(session, channel_id, who)
        await store.delete_channel(session, who, channel)


@router.post("/api/v1/channels/{channel_id}/test", response_model=TestResult)
async def test_channel(channel_id: Id, who: Editor, ctx: Ctx) -> Any:
    """Send a test message now and say what came of it (the channel's own answer, within
    `PLAIT_NOTIFY_TIMEOUT_SECONDS`). Works on a disabled channel too, to try it first."""
    delivery_id, outcome = await worker.send_test(ctx.db, ctx.settings, who, channel_id)
    return TestResult(
        ok=outcome.ok, delivery_id=delivery_id, response_code=outcome.code, error=outcome.error
    )


# --- rules --------------------------------------------------------------------------------


@router.post("/api/v1/rules", status_code=status.HTTP_201_CREATED, response_model=RuleOut)
async def create_rule(body: RuleCreate, who: Editor, ctx: Ctx, response: Response) -> Any:
    async with ctx.db.write() as session:
        rule = await store.create_rule(session, who, **body.model_dump())
    response.headers["Location"] = f"/api/v1/rules/{rule.id}"
    return rule


@router.get("/api/v1/rules", response_model=list[RuleOut])
async def list_rules(who: Viewer, ctx: Ctx, channel_id: IdQuery = None) -> Any:
    query = select(Rule).order_by(Rule.id)
    if channel_id is not None:
        query = query.where(Rule.channel_id == channel_id)
    async with ctx.db.read() as session:
        return list((await session.execute(query)).scalars())


@router.get("/api/v1/rules/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: Id, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return await store.get_rule(session, rule_id)


@router.patch("/api/v1/rules/{rule_id}", response_model=RuleOut)
async def patch_rule(rule_id: Id, body: RulePatch, who: Editor, ctx: Ctx) -> Any:
    async with ctx.db.write() as session:
        rule = await store.rule_for_edit(session, rule_id, who)
        return await store.update_rule(session, who, rule, _patch_changes(body))


@router.delete("/api/v1/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: Id, who: Editor, ctx: Ctx) -> None:
    async with ctx.db.write() as session:
        await store.delete_rule(session, who, await store.rule_for_edit(session, rule_id, who))


# --- deliveries ---------------------------------------------------------------------------

DELIVERY_SORT = pagination.SortKey(Delivery.id, Delivery.id, True, int)


@router.get("/api/v1/deliveries", response_model=Page[DeliveryOut])
async def list_deliveries(
    who: Viewer,
    ctx: Ctx,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    channel_id: IdQuery = None,
    run_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    """Newest first."""
    query = select(Delivery)
    if status_ is not None:
        query = query.where(Delivery.status == status_)
    if channel_id is not None:
        query = query.where(Delivery.channel_id == channel_id)
    if run_id is not None:
        query = query.where(Delivery.run_id == run_id)
    if cursor is not None:
        after = pagination.decode_cursor(cursor, "-id", DELIVERY_SORT)
        query = query.where(pagination.after(DELIVERY_SORT, *after))
    async with ctx.db.read() as session:
        query = pagination.order(query, DELIVERY_SORT).limit(limit + 1)
        rows = list((await session.execute(query)).scalars())
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = pagination.encode_cursor("-id", last.id, last.id) if last else None
    items = [{**{f: getattr(d, f) for f in DeliveryOut.model_fields},
              "payload": bounded.prune(d.payload)} for d in rows[:limit]]  # fmt: skip
    return {"items": items, "next_cursor": next_cursor}
