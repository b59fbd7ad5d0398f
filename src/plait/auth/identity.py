"""Turning a bearer token into a Principal, and the account operations behind login."""

from __future__ import annotations

import asyncio
import hmac
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plait.auth.passwords import verify_password
from plait.auth.roles import Principal, Role
from plait.auth.tokens import API_TOKEN_PREFIX, decode_access_token, new_refresh_token, sha256
from plait.db.models import ApiToken, RefreshToken, User, new_auth_stamp
from plait.errors import NotAuthenticated
from plait.events import outbox
from plait.events.outbox import ACCESS_CHANGED

# last_used_at of an API token is written at most this often, so reads stay reads.
_TOUCH_EVERY = timedelta(minutes=1)


def principal(user: User, api_token_id: int | None = None, worker: bool = False) -> Principal:
    return Principal(user.id, user.username, Role(user.role), api_token_id, worker)


async def from_bearer(session: AsyncSession, token: str, key: str) -> tuple[Principal, bool]:
    """The caller behind `token`, and whether its API token's last use should be recorded."""
    if token.startswith(API_TOKEN_PREFIX):
        return await _from_api_token(session, token)
    claims = decode_access_token(token, key)
    try:
        user_id = int(claims["sub"])
    except ValueError as exc:
        raise NotAuthenticated("invalid access token") from exc
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("this account no longer exists or is disabled")
    if not hmac.compare_digest(str(claims.get("stamp")), user.auth_stamp):
        raise NotAuthenticated("this login has ended (password changed or logged out); log in")
    return principal(user), False


async def _from_api_token(session: AsyncSession, token: str) -> tuple[Principal, bool]:
    now = datetime.now(UTC)
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == sha256(token))
        )
    ).one_or_none()
    if row is None:
        raise NotAuthenticated("invalid API token")
    api_token, user = row
    if api_token.revoked_at is not None:
        raise NotAuthenticated("this API token was revoked")
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise NotAuthenticated("this API token has expired")
    if not user.is_active:
        raise NotAuthenticated("this account is disabled")
    stale = api_token.last_used_at is None or now - api_token.last_used_at > _TOUCH_EVERY
    return principal(user, api_token.id, api_token.worker), stale


async def touch_api_token(session: AsyncSession, token_id: int) -> None:
    await session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=datetime.now(UTC))
    )


async def check_password(session: AsyncSession, username: str, password: str) -> User:
    user = (await session.execute(select(User).where(User.username == username))).scalar()
    # argon2 takes tens of milliseconds of CPU on purpose: never on the event loop.
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None or not ok:
        raise NotAuthenticated("wrong username or password")
    if not user.is_active:
        raise NotAuthenticated("this account is disabled")
    return user


async def start_refresh_family(session: AsyncSession, user_id: int, days: int) -> str:
    return await _issue_refresh(session, user_id, uuid.uuid4().hex, days)


async def _issue_refresh(session: AsyncSession, user_id: int, family: str, days: int) -> str:
    raw = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user_id,
            family=family,
            token_hash=sha256(raw),
            expires_at=datetime.now(UTC) + timedelta(days=days),
        )
    )
    return raw


async def rotate_refresh(session: AsyncSession, raw: str, days: int) -> tuple[User, str] | None:
    """Spend a refresh token for a new one of the same family.

    A token that was already spent means it was copied: the whole family is revoked, so
    neither the thief nor the owner can go on with it (the owner logs in again). That gives
    None, and the caller commits the revocation before refusing the request.
    """
    now = datetime.now(UTC)
    query = select(RefreshToken).where(RefreshToken.token_hash == sha256(raw))
    # FOR UPDATE: two concurrent refreshes with one token must not both succeed.
    token = (await session.execute(query.with_for_update())).scalar()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise NotAuthenticated("invalid or expired refresh token; log in again")
    if token.used_at is not None:
        await revoke_family(session, token.family)
        return None
    user = await session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("this account no longer exists or is disabled")
    token.used_at = now
    return user, await _issue_refresh(session, user.id, token.family, days)


async def revoke_family(session: AsyncSession, family: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def revoke_all_refresh(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def end_logins(session: AsyncSession, user: User, reason: str) -> None:
    """End every login of the account: its refresh tokens are revoked, its access tokens
    refused from now on (a new stamp), and its WebSockets closed (the hub hears the event)."""
    user.auth_stamp = new_auth_stamp()
    await revoke_all_refresh(session, user.id)
    access_changed(session, user.id, reason)


def access_changed(session: AsyncSession, user_id: int, reason: str) -> None:
    """Tell every server what this account may do changed: its open sockets close."""
    outbox.record(session, ACCESS_CHANGED, user_id=user_id, reason=reason)


async def family_of(session: AsyncSession, raw: str) -> RefreshToken | None:
    return (
        await session.execute(select(RefreshToken).where(RefreshToken.token_hash == sha256(raw)))
    ).scalar()
