"""/api/v1/tokens: API tokens for automation. The secret is shown once, at creation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from plait import audit
from plait.api.deps import Ctx, Viewer
from plait.api.inputs import IdPath
from plait.api.openapi import errors
from plait.auth.roles import Role, require_role
from plait.auth.tokens import new_api_token
from plait.db.models import ApiToken
from plait.errors import NotFound
from plait.workflows.spec import Text

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


class TokenCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    worker: bool = Field(
        default=False,
        description="A worker token (admins only): it may call the execution API "
        "(/api/v1/exec) and nothing else, for `plait worker` on another machine.",
    )


class TokenOut(BaseModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    worker: bool


class TokenCreated(TokenOut):
    token: str = Field(description="The secret. Shown this once; store it now.")


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=TokenCreated, responses=errors(403)
)
async def create_token(body: TokenCreate, who: Viewer, ctx: Ctx) -> Any:
    """A token acts with your role; create it under an account with only the role it needs.
    A worker token (admins only) acts as a worker and nothing else."""
    if body.worker:
        require_role(who, Role.admin)
    new = new_api_token()
    expires = (
        datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    )
    token = ApiToken(
        user_id=who.id,
        name=body.name,
        prefix=new.prefix,
        token_hash=new.hash,
        expires_at=expires,
        worker=body.worker,
    )
    async with ctx.db.write() as session:
        session.add(token)
        await session.flush()
        audit.record(session, who, "token.create", "api_token", token.id, name=token.name,
                     worker=token.worker)  # fmt: skip
    return {
        **TokenOut.model_validate(token, from_attributes=True).model_dump(),
        "token": new.secret,
    }


@router.get("", response_model=list[TokenOut])
async def list_tokens(
    who: Viewer,
    ctx: Ctx,
    all_users: Annotated[bool, Query(alias="all", description="Admins: every user's.")] = False,
) -> Any:
    query = select(ApiToken).order_by(ApiToken.id)
    if not (all_users and who.role == Role.admin):
        query = query.where(ApiToken.user_id == who.id)
    async with ctx.db.read() as session:
        return list((await session.execute(query)).scalars())


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: IdPath, who: Viewer, ctx: Ctx) -> None:
    async with ctx.db.write() as session:
        token = await session.get(ApiToken, token_id)
        if token is None or (token.user_id != who.id and who.role != Role.admin):
            raise NotFound(f"no token {token_id}")
        if token.revoked_at is None:
            token.revoked_at = datetime.now(UTC)
            audit.record(session, who, "token.revoke", "api_token", token.id, name=token.name)
