"""First start: an empty database gets an admin, whose password is shown once; and the way
back in when a password is lost (`plait admin reset-password`)."""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from plait import audit
from plait.auth.identity import revoke_all_refresh
from plait.auth.passwords import MIN_LENGTH, hash_password
from plait.auth.roles import Role
from plait.db.engine import Database
from plait.db.models import User
from plait.errors import FieldError, InvalidInput, NotFound
from plait.settings import Settings

ADMIN_USERNAME = "admin"


async def ensure_admin(db: Database, settings: Settings) -> tuple[User, str | None] | None:
    """Create the first admin when there are no users.

    Returns (admin, generated password or None if it came from PLAIT_ADMIN_PASSWORD), or None
    when users existed already (or another server created them a moment ago).
    """
    async with db.read() as session:
        if await session.scalar(select(func.count()).select_from(User)):
            return None
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = given or secrets.token_urlsafe(12)
    admin = User(
        username=ADMIN_USERNAME,
        password_hash=hash_password(password),
        role=Role.admin,
        is_active=True,
    )
    try:
        async with db.write() as session:
            session.add(admin)
            await session.flush()
            audit.record(
                session,
                None,
                "user.create",
                "user",
                admin.id,
                username=ADMIN_USERNAME,
                role=Role.admin,
                reason="first start",
            )
    except IntegrityError:
        return None
    return admin, None if given else password


async def reset_password(db: Database, username: str, password: str | None) -> str | None:
    """Give USERNAME a new password and end every login of theirs (its refresh tokens).

    For the operator on the server's machine (`plait admin reset-password`), who has lost the
    first admin's password or never saw it. Returns the generated password when none is given.
    """
    if password is not None and len(password) < MIN_LENGTH:
        message = f"at least {MIN_LENGTH} characters"
        raise InvalidInput([FieldError(("password",), message)], f"the password needs {message}")
    generated = None if password is not None else secrets.token_urlsafe(12)
    new_hash = await asyncio.to_thread(hash_password, password or generated or "")
    async with db.write() as session:
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user named {username!r}")
        user.password_hash = new_hash
        await revoke_all_refresh(session, user.id)
        audit.record(session, None, "user.password_reset", "user", user.id, via="command line")
    return generated
