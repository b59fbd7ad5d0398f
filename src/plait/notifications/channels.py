"""Senders: one message to one channel, and what came of it.

A sender never raises for a failed send: it returns an `Outcome` with the response code and
an error line that never contains the channel's secret (`scrub`), because outcomes are stored
and shown to every viewer. `deliver` adds the per-send time limit.

Webhook signature (what receivers verify; `verify_signature` is the recipe in code):

    X-Plait-Timestamp: <unix seconds>
    X-Plait-Signature: sha256=<hex HMAC-SHA256(key=secret, msg=f"{timestamp}.".encode() + body)>
    X-Plait-Event:     <event type, e.g. run.failed>
    X-Plait-Delivery:  <delivery id: the same on every retry of one message>
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiosmtplib
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from plait import __version__
from plait.db.models import Channel
from plait.notifications.config import EmailConfig, SlackConfig, WebhookConfig
from plait.notifications.messages import Message
from plait.settings import Settings

log = logging.getLogger("plait.notifications")

# slack-sdk logs each request's URL at DEBUG, and an incoming webhook's URL is its secret:
# its clients get this logger, which is above DEBUG and goes nowhere.
_sdk_log = logging.getLogger("plait.notifications.slack_sdk")
_sdk_log.setLevel(logging.WARNING)
_sdk_log.propagate = False
_sdk_log.addHandler(logging.NullHandler())

ERROR_CHARS = 500
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept between timestamp and now


@dataclass(frozen=True)
class Outcome:
    ok: bool
    code: int | None = None
    error: str | None = None
    permanent: bool = False  # retrying cannot help (a revoked webhook, a refused address)


@dataclass(frozen=True)
class Target:
    """A channel as the senders need it (a plain copy: sending happens outside sessions)."""

    id: int
    name: str
    kind: str
    config: dict[str, Any]
    secret: str | None = field(repr=False)  # so no repr of a job or target can show it
    enabled: bool = True

    @classmethod
    def of(cls, channel: Channel) -> Target:
        return cls(
            channel.id,
            channel.name,
            channel.kind,
            dict(channel.config),
            channel.secret,
            channel.enabled,
        )


def redact(text: str, secret: str | None) -> str:
    """`text` without the secret, nor (for a URL secret) its path: a Slack webhook's path is
    what makes it secret, and error messages quote URLs."""
    if secret:
        path = urlsplit(secret).path
        for part in (secret, path if len(path) > 8 else ""):
            if part:
                text = text.replace(part, "***")
    return text


def scrub(text: str, secret: str | None) -> str:
    """An error fit to store and show: redacted, one short paragraph."""
    text = redact(text, secret)
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def _failed(exc: BaseException, secret: str | None, code: int | None = None) -> Outcome:
    detail = str(exc) or type(exc).__name__
    return Outcome(False, code, scrub(f"{type(exc).__name__}: {detail}", secret))


def _http_outcome(code: int, reason: str, secret: str | None) -> Outcome:
    if 200 <= code < 300:
        return Outcome(True, code)
    # 4xx means the request itself is refused (bad URL, revoked hook): the same request
    # will be refused again. 408, 425 and 429 say "later", and 5xx may pass next time.
    permanent = 400 <= code < 500 and code not in (408, 425, 429)
    return Outcome(False, code, scrub(f"HTTP {code} {reason}".strip(), secret), permanent)


# A receiver's answer is not repeated in errors (every viewer reads them, and a URL may point
# inside the network): only Slack's short error codes, such as no_service, are.
SLACK_REASON = re.compile(r"^[a-z_]{1,64}$")


# --- Slack --------------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SLACK_ICONS = {
    "run.succeeded": ":white_check_mark:",
    "run.failed": ":x:",
    "run.cancelled": ":no_entry_sign:",
    "task.retrying": ":repeat:",
    "run.duration_exceeded": ":hourglass:",
    "test": ":wave:",
}


def slack_text(message: Message) -> str:
    icon = SLACK_ICONS.get(message.event, ":bell:")
    lines = [f"{icon} *{_slack_escape(message.title)}*"]
    lines += [_slack_escape(line) for line in message.lines]
    if message.link:
        lines.append(f"<{message.link}|Open run #{message.facts.get('run_id')}>")
    return "\n".join(lines)


async def _slack_webhook(url: str, text: str, seconds: float) -> Outcome:
    # No retry handlers: the worker retries, with backoff, and records each try.
    client = AsyncWebhookClient(url, timeout=math.ceil(seconds), logger=_sdk_log, retry_handlers=[])
    try:
        response = await client.send(text=text, unfurl_links=False)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return _failed(exc, url)
    body = str(response.body).strip()
    return _http_outcome(response.status_code, body if SLACK_REASON.match(body) else "", url)


async def _slack_bot(token: str, channel: str, text: str, settings: Settings) -> Outcome:
    client = AsyncWebClient(
        token=token,
        base_url=settings.slack_base_url,
        logger=_sdk_log,
        timeout=math.ceil(settings.notify_timeout_seconds),
        retry_handlers=[],
    )
    try:
        response = await client.chat_postMessage(channel=channel, text=text, unfurl_links=False)
    except SlackApiError as exc:
        code, error = exc.response.status_code, exc.response.get("error", "error")
        # ok=false with 200: the token, the channel or the message was refused for good,
        # except when Slack asks us to slow down.
        permanent = code < 500 and error != "ratelimited"
        return Outcome(False, code, scrub(f"Slack refused: {error}", token), permanent)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return _failed(exc, token)
    return Outcome(True, response.status_code)


async def send_slack(target: Target, message: Message, settings: Settings, _id: str) -> Outcome:
    config = SlackConfig.model_validate(target.config)
    assert target.secret is not None  # config.validate requires it
    text = slack_text(message)
    if config.mode == "bot":
        assert config.channel is not None
        return await _slack_bot(target.secret, config.channel, text, settings)
    return await _slack_webhook(target.secret, text, settings.notify_timeout_seconds)


# --- email --------------------------------------------------------------------------------


def email_message(config: EmailConfig, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"[Plait] {message.title}"
    mail["From"] = config.sender
    mail["To"] = ", ".join(config.to)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2])
    mail.set_content(message.text() + "\n")
    return mail


async def send_email(target: Target, message: Message, settings: Settings, _id: str) -> Outcome:
    config = EmailConfig.model_validate(target.config)
    try:
        refused, _ = await aiosmtplib.send(
            email_message(config, message),
            hostname=config.host,
            port=config.resolved_port(),
            username=config.username,
            password=target.secret if config.username else None,
            use_tls=config.security == "ssl",
            start_tls=config.security == "starttls",  # False for plain: no opportunistic TLS
            timeout=settings.notify_timeout_seconds,
        )
    except aiosmtplib.SMTPResponseException as exc:
        # 5xx: the server refuses this message or these credentials for good.
        outcome = _failed(exc, target.secret, exc.code)
        return Outcome(False, exc.code, outcome.error, permanent=500 <= exc.code < 600)
    except (aiosmtplib.SMTPException, OSError) as exc:
        return _failed(exc, target.secret)
    if refused:  # some recipients took it; say who did not
        return Outcome(True, 250, scrub(f"refused: {', '.join(sorted(refused))}", None))
    return Outcome(True, 250)


# --- signed webhook -----------------------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str,
    signature_header: str,
    *,
    tolerance: float = SIGNATURE_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether a webhook request came from Plait. The recipe, for any language:

    1. Take the raw request body as bytes (before any JSON parsing) and the headers
       `X-Plait-Timestamp` and `X-Plait-Signature`.
    2. Refuse a timestamp more than `tolerance` seconds away from now (stops replays).
    3. Compute HMAC-SHA256 with the channel's secret as key over `timestamp + "." + body`,
       as lowercase hex, and compare `"sha256=" + hex` with the header in constant time.
    """
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header.strip())


def webhook_body(message: Message, delivery_id: str) -> bytes:
    doc = {
        **message.facts,
        "event": message.event,
        "delivery_id": delivery_id,
        "title": message.title,
        "text": message.text(),
        "link": message.link,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str).encode()


async def send_webhook(
    target: Target, message: Message, settings: Settings, delivery_id: str
) -> Outcome:
    config = WebhookConfig.model_validate(target.config)
    assert target.secret is not None  # config.validate requires it
    body = webhook_body(message, delivery_id)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"plait/{__version__}",
        "X-Plait-Timestamp": timestamp,
        "X-Plait-Signature": signature(target.secret, timestamp, body),
        "X-Plait-Event": message.event,
        "X-Plait-Delivery": delivery_id,
    }
    timeout = settings.notify_timeout_seconds
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.post(config.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return _failed(exc, target.secret)
    return _http_outcome(response.status_code, response.reason_phrase, target.secret)


# --- any channel --------------------------------------------------------------------------

Sender = Callable[[Target, Message, Settings, str], Awaitable[Outcome]]
SENDERS: dict[str, Sender] = {"slack": send_slack, "email": send_email, "webhook": send_webhook}


async def deliver(
    target: Target, message: Message, settings: Settings, delivery_id: str
) -> Outcome:
    """Send within `notify_timeout_seconds`, whatever the channel does."""
    limit = settings.notify_timeout_seconds
    try:
        async with asyncio.timeout(limit):
            return await SENDERS[target.kind](target, message, settings, delivery_id)
    except TimeoutError:
        return Outcome(False, None, f"no answer within {limit:g} s")
    except Exception as exc:  # a bug in a sender: recorded and logged, never the loop's end
        lines = redact("".join(traceback.format_exception(exc)), target.secret)
        log.error(
            "sending delivery %s to channel %s failed unexpectedly:\n%s",
            delivery_id,
            target.id,
            lines,
        )
        return _failed(exc, target.secret)
