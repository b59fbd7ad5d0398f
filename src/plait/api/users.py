"""/api/v1/users: accounts (admins), the caller's own account and password."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, BeforeValidator, Field, StrictBool
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.api.deps import Admin, Ctx, Viewer
from plait.api.inputs import IdPath, ascii_id
from plait.api.openapi import errors
from plait.api.schemas import Page, PatchBody
from plait.auth import identity
from plait.auth.passwords import MIN_LENGTH, hash_password, verify_password
from plait.auth.roles import Role
from plait.db import ids
from plait.db.models import User
from plait.errors import Conflict, FieldError, InvalidInput, NotFound

router = APIRouter(prefix="/api/v1/users", tags=["users"])

Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$", max_length=64)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Password = Annotated[str, Field(min_length=MIN_LENGTH, max_length=1024)]
UserId = IdPath


class UserOut(BaseModel):
    id: int
    username: str
    email: str | None
    role: Role
    is_active: bool
    created_at: datetime


class UserCreate(BaseModel):
    username: Username
    password: Password
    role: Role = Role.viewer
    email: Email | None = None


class UserPatch(PatchBody):
    """Fields to change; `email: null` removes the email."""

    nullable = frozenset({"email"})

    role: Role | None = None
    is_active: StrictBool | None = None
    email: Email | None = None
    password: Password | None = None


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: Password


@router.get("/me", response_model=UserOut)
async def me(who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return await session.get(User, who.id)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=errors(409))
async def change_password(body: PasswordChange, who: Viewer, ctx: Ctx) -> None:
    """Change your password; every login of yours ends, this one too (log in again)."""
    # argon2 is slow on purpose: it runs in a thread, outside the write transaction.
    async with ctx.db.read() as session:
        current = (await _get(session, who.id)).password_hash
    if not await asyncio.to_thread(verify_password, current, body.current_password):
        raise InvalidInput([FieldError(("current_password",), "wrong password")])
    new_hash = await asyncio.to_thread(hash_password, body.new_password)
    async with ctx.db.write() as session:
        user = await _get(session, who.id)
        if user.password_hash != current:
            raise Conflict("your password was changed meanwhile; try again")
        user.password_hash = new_hash
        await identity.end_logins(session, user, "password changed")
        audit.record(session, who, "user.password_change", "user", user.id)


@router.get("", response_model=Page[UserOut])
async def list_users(
    who: Admin,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after_id: Annotated[
        int | None, Query(ge=0, le=ids.MAX_ID, description="Cursor."), BeforeValidator(ascii_id)
    ] = None,
) -> Any:
    query = select(User).order_by(User.id).limit(limit + 1)
    if after_id is not None:
        query = query.where(User.id > after_id)
    async with ctx.db.read() as session:
        users = list((await session.execute(query)).scalars())
    more = len(users) > limit
    return {"items": users[:limit], "next_cursor": str(users[limit - 1].id) if more else None}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut, responses=errors(409))
async def create_user(body: UserCreate, who: Admin, ctx: Ctx) -> Any:
    user = User(
        username=body.username,
        email=body.email,
        role=body.role,
        password_hash=await asyncio.to_thread(hash_password, body.password),
        is_active=True,
    )
    async with ctx.db.write() as session:
        session.add(user)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise Conflict(f"user {body.username!r} exists already") from exc
        audit.record(
            session, who, "user.create", "user", user.id, username=user.username, role=user.role
        )
    return user


@router.get("/{user_id:int}", response_model=UserOut)
async def get_user(user_id: UserId, who: Admin, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return await _get(session, user_id)


@router.patch("/{user_id:int}", response_model=UserOut, responses=errors(409))
async def update_user(user_id: UserId, body: UserPatch, who: Admin, ctx: Ctx) -> Any:
    changes = body.model_dump(exclude_unset=True)
    password = changes.pop("password", None)
    new_hash = None if password is None else await asyncio.to_thread(hash_password, password)
    async with ctx.db.write() as session:
        user = await _get(session, user_id)
        if changes.get("role", Role.admin) != Role.admin or changes.get("is_active") is False:
            await _keep_an_admin(session, user)
        if new_hash is not None:
            user.password_hash = new_hash
        for field, value in changes.items():
            setattr(user, field, value)
        if password is not None or changes.get("is_active") is False:
            await identity.end_logins(
                session, user, "disabled" if not user.is_active else "password set"
            )
        elif "role" in changes:
            identity.access_changed(session, user.id, "role changed")
        fields = sorted([*changes, *(["password"] if password else [])])
        audit.record(
            session,
            who,
            "user.update",
            "user",
            user.id,
            fields=fields,
            role=user.role,
            is_active=user.is_active,
        )
    return user


@router.delete("/{user_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(409))
async def delete_user(user_id: UserId, who: Admin, ctx: Ctx) -> None:
    """Delete an account; its workflows stay, without an owner, for admins to reassign."""
    async with ctx.db.write() as session:
        user = await _get(session, user_id)
        await _keep_an_admin(session, user)
        audit.record(session, who, "user.delete", "user", user.id, username=user.username)
        identity.access_changed(session, user.id, "deleted")
        await session.delete(user)


async def _get(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


async def _keep_an_admin(session: AsyncSession, user: User) -> None:
    """Refuse to demote, disable or delete the last active admin: nobody could undo it.

    The active admins' rows are locked (FOR UPDATE) before they are counted, so two admins
    demoting each other at once on PostgreSQL take turns: the second counts again after the
    first commits, and is refused. SQLite runs one write transaction at a time anyway."""
    if user.role != Role.admin or not user.is_active:
        return
    admins = await session.execute(
        select(User.id)
        .where(User.role == Role.admin, User.is_active.is_(True))
        .order_by(User.id)
        .with_for_update()
    )
    if len(admins.all()) <= 1:
        raise Conflict("this is the last active admin; make another admin first")
