"""Liveness and readiness: public, no auth, no secrets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from plait import __version__
from plait.api.deps import Ctx
from plait.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    """The process is alive."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readyz(ctx: Ctx) -> dict[str, Any]:
    """The database answers."""
    try:
        await ctx.db.ping()
    except (SQLAlchemyError, OSError) as exc:
        raise Unavailable(f"database unavailable: {type(exc).__name__}") from exc
    return {"status": "ok", "database": ctx.db.dialect}
