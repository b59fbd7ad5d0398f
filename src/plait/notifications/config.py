"""What each kind of channel needs. `config` is shown to anyone who may read channels;
`secret` (webhook URL, token, password, signing key) is stored apart and never shown."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from plait.errors import FieldError, InvalidInput

KINDS = ("slack", "email", "webhook")
Kind = Literal["slack", "email", "webhook"]
SECRET_MAX = 4096
SIGNING_KEY_MIN = 16

# Deliberately plain: the SMTP server is the judge of an address; this refuses what cannot
# be one, and anything that could inject a header (whitespace, commas, angle brackets).
Address = Annotated[
    str,
    StringConstraints(pattern=r"^[^@\s<>,;\"()\[\]\\]+@[^@\s<>,;\"'()\[\]\\]+$", max_length=254),
]
Host = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:\-\[\]]+$", max_length=255)]
SlackChannel = Annotated[str, StringConstraints(pattern=r"^[#@]?[\w.\-]+$", max_length=80)]


class SlackConfig(BaseModel):
    """`mode` webhook: the secret is the incoming webhook URL. `mode` bot: the secret is a
    bot token (xoxb-…) and `channel` says where chat.postMessage posts."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["webhook", "bot"] = "webhook"
    channel: SlackChannel | None = None


class EmailConfig(BaseModel):
    """SMTP. The secret, if any, is the password of `username`."""

    model_config = ConfigDict(extra="forbid")

    host: Host
    port: int | None = Field(default=None, ge=1, le=65535, description="Default by security.")
    security: Literal["plain", "starttls", "ssl"] = "starttls"
    username: str | None = Field(default=None, min_length=1, max_length=254)
    sender: Address
    to: list[Address] = Field(min_length=1, max_length=50)

    def resolved_port(self) -> int:
        return self.port or {"plain": 25, "starttls": 587, "ssl": 465}[self.security]


class WebhookConfig(BaseModel):
    """A URL that receives each message as signed JSON. The secret is the signing key."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000)


MODELS: dict[str, type[BaseModel]] = {
    "slack": SlackConfig,
    "email": EmailConfig,
    "webhook": WebhookConfig,
}


def _url_error(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL"
    if re.search(r"\s", url):
        return "must not contain whitespace"
    return None


def _secret_problems(kind: str, config: BaseModel, secret: str | None) -> list[FieldError]:
    """The rules that tie the secret to the config. Messages never repeat the secret."""
    if isinstance(config, SlackConfig):
        if secret is None:
            what = "incoming webhook URL" if config.mode == "webhook" else "bot token"
            return [FieldError(("secret",), f"a Slack {config.mode} channel needs its {what}")]
        if config.mode == "webhook" and _url_error(secret):
            return [FieldError(("secret",), "expected the webhook's https:// URL")]
    if isinstance(config, EmailConfig) and (secret is None) != (config.username is None):
        return [
            FieldError(
                ("secret",), "give both config.username and the password (secret), or neither"
            )
        ]
    if isinstance(config, WebhookConfig) and (secret is None or len(secret) < SIGNING_KEY_MIN):
        return [FieldError(("secret",), f"a signing key of at least {SIGNING_KEY_MIN} characters")]
    return []


def _config_problems(config: BaseModel) -> list[FieldError]:
    if isinstance(config, SlackConfig) and config.mode == "bot" and config.channel is None:
        return [FieldError(("config", "channel"), "a bot posts to a channel: name it", "missing")]
    if isinstance(config, WebhookConfig) and (err := _url_error(config.url)):
        return [FieldError(("config", "url"), err)]
    return []


def validate(kind: str, config: dict[str, Any], secret: str | None) -> dict[str, Any]:
    """The channel's config as stored, or InvalidInput with every problem and its field."""
    if secret is not None and ("\x00" in secret or not secret.strip()):
        raise InvalidInput([FieldError(("secret",), "must be non-blank text without NUL")])
    try:
        parsed = MODELS[kind].model_validate(config)
    except ValidationError as exc:
        raise InvalidInput(
            [
                FieldError(("config", *e["loc"]), e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from exc
    problems = _config_problems(parsed) + _secret_problems(kind, parsed, secret)
    if problems:
        raise InvalidInput(problems)
    return parsed.model_dump(exclude_none=True)
