"""/api/v1/auth: log in (OAuth2 password form or JSON), refresh, log out."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from plait import audit
from plait.api.deps import Ctx, Viewer
from plait.api.openapi import errors
from plait.api.users import UserOut
from plait.auth import identity
from plait.auth.throttle import LoginThrottle
from plait.auth.tokens import issue_access_token
from plait.db.models import User
from plait.errors import FieldError, InvalidInput, NotAuthenticated, from_pydantic
from plait.workflows.spec import Text

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: Text = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(
        default=None, max_length=200, description="End this login only; omit to end them all."
    )


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (a scheme name)
    expires_in: int = Field(description="Seconds the access token stays valid.")
    refresh_token: str
    user: UserOut


LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginRequest.model_json_schema()},
        },
    }
}


async def _login_body(request: Request) -> LoginRequest:
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            data: Any = json.loads(await request.body())
        else:
            data = dict(await request.form())
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(from_pydantic(exc.errors())) from exc
    except (ValueError, UnicodeDecodeError, AssertionError, RecursionError) as exc:
        raise InvalidInput([FieldError(("body",), "send JSON or a form")]) from exc


def _pair(ctx: Ctx, user: User, refresh: str) -> TokenPair:
    access, ttl = issue_access_token(user, ctx.signing_key, ctx.settings.access_token_minutes)
    return TokenPair(
        access_token=access,
        expires_in=ttl,
        refresh_token=refresh,
        user=UserOut.model_validate(user, from_attributes=True),
    )


@router.post(
    "/login", response_model=TokenPair, openapi_extra=LOGIN_BODY, responses=errors(401, 429)
)
async def login(request: Request, ctx: Ctx) -> Any:
    """Failed logins are limited per username and per client address (a 429 with Retry-After);
    the counts are kept by each server process."""
    body = await _login_body(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    attempt = throttle.attempt(body.username, request.client.host if request.client else "")
    # The password is checked outside the write transaction: argon2 is slow on purpose.
    async with ctx.db.read() as session:
        user = await identity.check_password(session, body.username, body.password)
    throttle.succeeded(attempt)
    async with ctx.db.write() as session:
        refresh = await identity.start_refresh_family(
            session, user.id, ctx.settings.refresh_token_days
        )
        audit.record(session, identity.principal(user), "auth.login", "user", user.id)
    return _pair(ctx, user, refresh)


@router.post("/refresh", response_model=TokenPair, responses=errors(401))
async def refresh(body: RefreshRequest, ctx: Ctx) -> Any:
    """Spend a refresh token for a new access token and a new refresh token."""
    async with ctx.db.write() as session:
        rotated = await identity.rotate_refresh(
            session, body.refresh_token, ctx.settings.refresh_token_days
        )
    if rotated is None:
        raise NotAuthenticated("refresh token reused; every session of this login was revoked")
    return _pair(ctx, *rotated)


@router.post("/logout", status_code=204)
async def logout(who: Viewer, ctx: Ctx, body: LogoutRequest | None = None) -> None:
    async with ctx.db.write() as session:
        token = (
            await identity.family_of(session, body.refresh_token)
            if body and body.refresh_token
            else None
        )
        if token is not None and token.user_id == who.id:
            await identity.revoke_family(session, token.family)
        else:  # everywhere: access tokens too, at once
            user = await session.get(User, who.id)
            assert user is not None  # `who` was just read
            await identity.end_logins(session, user, "logged out")
        audit.record(session, who, "auth.logout", "user", who.id)
