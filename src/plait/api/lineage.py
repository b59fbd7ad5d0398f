"""/api/v1/runs/{id}/lineage: the chain of runs a run belongs to (see `orchestration.chains`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from plait.api.deps import Ctx, Viewer
from plait.api.inputs import IdPath
from plait.orchestration.lineage import lineage
from plait.orchestration.states import RunStatus

router = APIRouter(tags=["runs"])


class ChainRun(BaseModel):
    id: int
    workflow_id: int
    workflow: str
    status: RunStatus
    upstream_run_id: int | None = Field(description="The run whose end started this one.")
    trigger: str
    created_at: datetime
    finished_at: datetime | None


class Lineage(BaseModel):
    root: int = Field(description="The first run of the chain.")
    runs: list[ChainRun] = Field(description="Every run of the chain, by id.")
    status: Literal["running", "succeeded", "failed", "cancelled"] = Field(
        description="running while any run has not ended; then failed if any failed, cancelled "
        "if any was cancelled, else succeeded."
    )
    truncated: bool = Field(description="The chain has more runs than were listed (1000).")


@router.get("/api/v1/runs/{run_id}/lineage", response_model=Lineage)
async def get_lineage(run_id: IdPath, who: Viewer, ctx: Ctx) -> Any:
    """The runs upstream of this one (up to the first) and downstream of them all."""
    async with ctx.db.read() as session:
        return await lineage(session, run_id)
