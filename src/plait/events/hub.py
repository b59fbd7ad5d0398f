"""The WebSocket fan-out of this process: which clients want which topics, each with a
bounded queue so that a slow client never delays the others."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from plait.auth.roles import Principal
from plait.events.bus import Message
from plait.events.outbox import ACCESS_CHANGED, topics
from plait.monitoring import instruments

TOO_SLOW = 4008  # the close code of a client whose queue filled up
ACCESS_ENDED = 4403  # its account was deleted, disabled or demoted, or its logins ended


@dataclass(frozen=True)
class Frame:
    """A message ready to send: serialized once, however many clients get it."""

    id: int | None  # an event's id; None for replies
    text: str


def event_frame(message: Message) -> Frame:
    return Frame(message["id"], json.dumps({"op": "event", **message}))


def reply(**body: Any) -> Frame:
    return Frame(None, json.dumps(body))


@dataclass(eq=False)
class Client:
    who: Principal
    queue: asyncio.Queue[Frame | None]
    topics: set[str] = field(default_factory=set)
    held: list[Frame] | None = None  # live events that arrive while a replay is sent
    last_id: int = 0
    closing: tuple[int, str] | None = None  # why the hub ended it, if not for being slow


class Hub:
    """This process's WebSocket clients; the bus hands it every committed event."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.sent = 0
        self.dropped = 0

    def connect(self, who: Principal) -> Client:
        client = Client(who, asyncio.Queue(self.queue_size))
        self.clients.add(client)
        instruments.websocket_clients.inc()
        return client

    def disconnect(self, client: Client) -> None:
        if client in self.clients:  # a slow client is disconnected twice: by _end, then ws
            self.clients.remove(client)
            instruments.websocket_clients.dec()

    def deliver(self, messages: list[Message]) -> None:
        for message in messages:
            if message.get("type") == ACCESS_CHANGED:
                self._end_access(message["user_id"], str(message["data"].get("reason", "")))
                continue
            wanted = topics(message)
            frame: Frame | None = None
            for client in list(self.clients):
                if client.topics & wanted:
                    frame = frame or event_frame(message)
                    self._offer(client, frame)

    def _end_access(self, user_id: int, reason: str) -> None:
        """Close the account's sockets: what they were allowed to read was decided by an
        account that no longer exists in that form. A reconnect authenticates afresh."""
        for client in list(self.clients):
            if client.who.id == user_id:
                client.closing = (ACCESS_ENDED, f"access changed: {reason}; reconnect")
                self._end(client)

    def _offer(self, client: Client, frame: Frame) -> None:
        if client.held is not None:
            client.held.append(frame)
            return
        try:
            client.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped += 1
            instruments.websocket_clients_dropped.inc()
            self._end(client)

    def _end(self, client: Client) -> None:
        self.disconnect(client)
        # Drop all it has not been sent: its last id then precedes every event it missed,
        # so reconnecting with since=<last id> replays them all.
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(None)

    def stats(self) -> dict[str, Any]:
        per_topic = Counter(t for c in self.clients for t in c.topics)
        return {"connections": len(self.clients), "subscriptions": dict(per_topic),
                "events_sent": self.sent, "clients_dropped": self.dropped}  # fmt: skip
