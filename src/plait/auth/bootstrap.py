"""First start: an empty database gets an admin, whose password is shown once."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from plait import audit
from plait.auth.passwords import hash_password
from plait.auth.roles import Role
from plait.db.engine import Database
from plait.db.models import User
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
