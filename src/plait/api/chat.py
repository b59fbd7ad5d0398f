"""/api/v1/chat: describe a run in plain language; confirm to start it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from plait.api.deps import Ctx, Editor, Viewer
from plait.api.inputs import IdPath
from plait.api.openapi import errors
from plait.chat import service, sessions
from plait.chat.provider import provider_for
from plait.workflows.spec import Text

router = APIRouter(tags=["chat"])
IdempotencyKey = Annotated[str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")]


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Text = Field(min_length=1, max_length=2000)
    session_id: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="Go on with this conversation; none starts one.",
    )


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] | None = Field(
        default=None,
        max_length=200,
        description="The proposal's params as edited: they replace the proposal's, and are "
        "checked as a trigger's are (422 naming each field). Left out: the proposal as is.",
    )


class DatasetRef(BaseModel):
    name: str
    version: int | None


class Proposal(BaseModel):
    kind: Literal["workflow", "template"]
    workflow: str | None = Field(default=None, description="The workflow to run (kind workflow; "
                                 "for a template, the one made from it once started).")  # fmt: skip
    template: str | None = Field(default=None, description="The template to instantiate.")
    params: dict[str, Any] = Field(description="The values said (and the dataset's).")
    params_schema: dict[str, Any] = Field(description="The workflow's or template's params.")
    dataset: DatasetRef | None = None
    complete: bool = Field(description="Nothing is missing or wrong: it can start.")
    missing: list[str] = Field(description="Required params not given.")
    not_understood: list[str] = Field(description="Parts of the messages not placed.")
    done: bool = Field(default=False, description="Started: see run_id.")
    run_id: int | None = None


class ChatOut(BaseModel):
    session_id: int
    reply: str
    proposal: Proposal | None
    questions: list[str]
    run_id: int | None = Field(default=None, description="The run this message started.")


class Message(BaseModel):
    role: Literal["user", "assistant"]
    text: str
    at: datetime | None = None


class SessionOut(BaseModel):
    session_id: int
    proposal: Proposal | None
    messages: list[Message] = Field(description=f"The last {sessions.MAX_MESSAGES}.")
    created_at: datetime
    updated_at: datetime


@router.post("/api/v1/chat", response_model=ChatOut, responses=errors(404, 409))
async def chat(body: ChatIn, who: Viewer, ctx: Ctx, idempotency_key: IdempotencyKey = None) -> Any:
    """Say what to run. The answer is a proposal (what was understood, what was not) and
    questions; nothing starts until a confirm (`yes`, `run it`, `go`, or
    `POST /chat/sessions/{id}/confirm`), which needs the editor role."""
    turn = await service.converse(ctx.db, provider_for(ctx.settings), who, body.message,
                                  body.session_id, idempotency_key)  # fmt: skip
    if turn.run_id is not None:
        ctx.wake(turn.run_id)
    return turn.body


@router.get("/api/v1/chat/sessions/{session_id}", response_model=SessionOut,
            responses=errors(404))  # fmt: skip
async def get_session(session_id: IdPath, who: Viewer, ctx: Ctx) -> Any:
    """Your conversation (another user's is not found)."""
    async with ctx.db.read() as session:
        row = await sessions.get(session, session_id, who)
    return {"session_id": row.id, "proposal": row.state.get("proposal"),
            "messages": row.state.get("messages", []), "created_at": row.created_at,
            "updated_at": row.updated_at}  # fmt: skip


@router.post("/api/v1/chat/sessions/{session_id}/confirm", response_model=ChatOut,
             responses=errors(404, 409))  # fmt: skip
async def confirm(
    session_id: IdPath, who: Editor, ctx: Ctx, response: Response,
    body: ConfirmIn | None = None, idempotency_key: IdempotencyKey = None,
) -> Any:  # fmt: skip
    """Start the session's complete proposal, as a trigger would (your role, the workflow's
    params checks). Once: a second confirm answers the same run."""
    params = body.params if body is not None else None
    turn = await service.confirm(ctx.db, who, session_id, idempotency_key, params)
    if turn.run_id is not None:
        ctx.wake(turn.run_id)
        response.headers["Location"] = f"/api/v1/runs/{turn.run_id}"
    return turn.body
