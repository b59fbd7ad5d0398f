"""/ws: live events over WebSocket, by topic, with replay from the outbox on reconnect.

Protocol (JSON text frames):
  client -> {"op": "subscribe", "topics": ["run:7", "*"], "since": 1234}   since: optional
            {"op": "unsubscribe", "topics": [...]}
            {"op": "ping"}
  server -> {"op": "subscribed", "topics": [...], "replayed": n}
            {"op": "event", "id", "type", "time", "workflow_id", "run_id", "user_id", "data"}
            {"op": "pong"} | {"op": "error", "detail": "..."}
Topics: `*`, `workflow:<id>`, `run:<id>`, `user:<id>` (your own; admins any).
Authenticate with `?token=<access or API token>` or an `Authorization: Bearer` header.
Close codes: 4401 not authenticated, 4008 too slow (its queue of `PLAIT_WS_QUEUE_SIZE`
events filled up; reconnect with `since` to catch up), 4403 access changed (the account was
deleted, disabled, given another role, or its logins ended: reconnect, with a new token if
the old one is refused), 1000 normal.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from sqlalchemy import or_, select

from plait.api.deps import Context, Ctx, Viewer
from plait.auth import identity
from plait.auth.roles import Principal, Role
from plait.db.ids import parse_id
from plait.db.models import Event
from plait.errors import NotAuthenticated
from plait.events.hub import TOO_SLOW, Client, Frame, Hub, event_frame, reply
from plait.events.outbox import ACCESS_CHANGED, as_message
from plait.monitoring import instruments

router = APIRouter(tags=["events"])
# ASCII digits only (\d takes any Unicode digit, which int() then misreads or refuses).
TOPIC = re.compile(r"^(\*|(workflow|run|user):[0-9]{1,18})$")
REPLAY_LIMIT = 10_000
UNAUTHENTICATED = 4401


async def _authenticate(ws: WebSocket, ctx: Context, token: str | None) -> Principal:
    header = ws.headers.get("authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
    secret = token or bearer
    if not secret:
        raise NotAuthenticated("pass ?token=<access or API token>")
    async with ctx.db.read() as session:
        who, _ = await identity.from_bearer(session, secret, ctx.signing_key)
    if who.worker:  # the fence's rule; a socket has no problem response, so: refused
        raise NotAuthenticated("a worker token may only call the execution API")
    return who


@router.websocket("/ws")
async def events_socket(ws: WebSocket, token: Annotated[str | None, Query()] = None) -> None:
    ctx: Context = ws.app.state.plait
    await ws.accept()
    try:
        who = await _authenticate(ws, ctx, token)
    except NotAuthenticated as exc:
        await ws.close(code=UNAUTHENTICATED, reason=exc.detail[:120])
        return
    client = ctx.hub.connect(who)
    try:  # again, now that the hub would hear of a change: one just before is seen here
        await _authenticate(ws, ctx, token)
    except NotAuthenticated as exc:
        ctx.hub.disconnect(client)
        await ws.close(code=UNAUTHENTICATED, reason=exc.detail[:120])
        return
    sender = asyncio.create_task(_send(ws, ctx.hub, client))
    try:
        while True:
            await _command(ws, ctx, client, await ws.receive_json())
    except (WebSocketDisconnect, ValueError, KeyError, TypeError):
        pass
    finally:
        ctx.hub.disconnect(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def _send(ws: WebSocket, hub: Hub, client: Client) -> None:
    while (frame := await client.queue.get()) is not None:
        if frame.id is not None:
            if frame.id <= client.last_id:
                continue  # already sent by a replay
            client.last_id = frame.id
            hub.sent += 1
            instruments.websocket_events_sent.inc()
        await ws.send_text(frame.text)
    code, reason = client.closing or (TOO_SLOW, "too slow: reconnect with since=<last id>")
    await ws.close(code=code, reason=reason[:120])


async def _command(ws: WebSocket, ctx: Context, client: Client, command: Any) -> None:
    op = command.get("op") if isinstance(command, dict) else None
    wanted = command.get("topics", []) if isinstance(command, dict) else []
    if op == "ping":
        await client.queue.put(reply(op="pong"))
    elif op in ("subscribe", "unsubscribe") and isinstance(wanted, list):
        bad = [t for t in wanted if not _may_read(client.who, t)]
        if bad:
            await client.queue.put(reply(op="error", detail=f"not allowed topics: {bad}"))
        elif op == "unsubscribe":
            client.topics -= set(wanted)
        else:
            await _subscribe(ctx, client, set(wanted), command.get("since"))
    else:
        await client.queue.put(reply(op="error", detail="unknown command"))


def _may_read(who: Principal, topic: Any) -> bool:
    if not isinstance(topic, str) or not TOPIC.match(topic):
        return False
    return not topic.startswith("user:") or who.role == Role.admin or topic == f"user:{who.id}"


async def _subscribe(ctx: Context, client: Client, wanted: set[str], since: Any) -> None:
    """Subscribe; with `since`, first replay what the client missed, then go live, in order
    and without duplicates (live events that arrive meanwhile wait in `held`)."""
    client.held = []
    client.topics |= wanted
    pending: list[Frame] = []
    if isinstance(since, int) and not isinstance(since, bool) and 0 <= since < 2**62:
        pending = await _missed(ctx, wanted, since)
    replayed = len(pending)
    pending, client.held = pending + client.held, []
    # Live events keep going to `held` until everything before them is queued: otherwise a
    # newer live event could overtake the replay, and the sender would skip the older ones.
    while pending:
        for message in pending:
            await client.queue.put(message)  # waits for the sender: a replay can be long
        pending, client.held = client.held or [], []
    client.held = None
    await client.queue.put(reply(op="subscribed", topics=sorted(client.topics), replayed=replayed))


async def _missed(ctx: Context, wanted: set[str], since: int) -> list[Frame]:
    query = select(Event).where(
        Event.id > since, Event.published_at.is_not(None), Event.type != ACCESS_CHANGED
    )
    if "*" not in wanted:
        ids = {kind: [n for t in wanted if t.startswith(kind + ":")
                      if (n := parse_id(t.split(":")[1])) is not None]
               for kind in ("workflow", "run", "user")}  # fmt: skip
        query = query.where(
            or_(
                Event.workflow_id.in_(ids["workflow"]),
                Event.run_id.in_(ids["run"]),
                Event.user_id.in_(ids["user"]),
            )
        )
    async with ctx.db.read() as session:
        rows = await session.execute(query.order_by(Event.id).limit(REPLAY_LIMIT))
        return [event_frame(as_message(e)) for e in rows.scalars()]


@router.get("/ws/stats")
async def ws_stats(who: Viewer, ctx: Ctx) -> dict[str, Any]:
    """This process's sockets: connections, subscriptions per topic, events sent, clients
    dropped for being too slow."""
    return ctx.hub.stats()
