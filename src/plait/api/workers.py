"""/api/v1/workers: the remote workers that reported lately (for people; workers heartbeat
through the execution API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from plait.api.deps import Ctx, Viewer
from plait.orchestration import workers

router = APIRouter(prefix="/api/v1/workers", tags=["workers"])


class WorkerOut(BaseModel):
    name: str = Field(description="host:pid of the worker process.")
    hostname: str
    queues: list[str]
    concurrency: int
    running: list[int] = Field(description="Ids of the attempts it runs.")
    started_at: datetime
    last_seen: datetime = Field(description="Its last heartbeat.")


@router.get("", response_model=list[WorkerOut])
async def list_workers(who: Viewer, ctx: Ctx) -> Any:
    """Workers heard from within the last three heartbeat periods."""
    async with ctx.db.read() as session:
        return await workers.live(session, ctx.settings.heartbeat_seconds)
