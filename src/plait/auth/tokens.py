"""Access tokens (JWT), refresh tokens and API tokens (opaque, stored as SHA-256 hashes).

Opaque tokens carry 256 bits of randomness, so a fast hash is safe for them; argon2 is for
passwords, which people choose.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from plait.db.models import User
from plait.errors import NotAuthenticated

ALGORITHM = "HS256"
API_TOKEN_PREFIX = "plait_"  # noqa: S105 (a prefix, not a secret)


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_access_token(user: User, key: str, minutes: int) -> tuple[str, int]:
    """An access token for this very account: besides its id it carries the account's
    `auth_stamp`, so it dies with the account, and when the stamp changes (password set,
    account disabled, every login ended) rather than when it expires."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user.id),
        "stamp": user.auth_stamp,
        "role": user.role,
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM), minutes * 60


def decode_access_token(token: str, key: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("access token expired; refresh it or log in again") from exc
    except jwt.InvalidTokenError as exc:
        raise NotAuthenticated("invalid access token") from exc
    if claims.get("typ") != "access":
        raise NotAuthenticated("invalid access token")
    return claims


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class NewApiToken:
    secret: str
    prefix: str
    hash: str


def new_api_token() -> NewApiToken:
    prefix = secrets.token_hex(4)
    secret = f"{API_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiToken(secret=secret, prefix=prefix, hash=sha256(secret))
