"""One turn of a conversation, and starting what it proposed.

A turn reads the session and the caller's catalog, asks the provider (outside any write
transaction: it may be a network call), checks the draft, and saves the new state. A
provider that fails is replaced by the rules parser for that message, and the reply says so.
Starting goes through `runs.create_run`, the function the trigger route uses (params
resolved and validated the same way), under the caller's role.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.auth.roles import Principal, Role, require_role
from plait.chat import catalog as catalogs
from plait.chat import sessions
from plait.chat.draft import Draft
from plait.chat.parser import RulesProvider, which_question
from plait.chat.proposal import check
from plait.chat.provider import Provider, ProviderError
from plait.db.engine import Database
from plait.db.models import ChatSession, Run, Workflow
from plait.errors import Conflict
from plait.orchestration import runs
from plait.templates import store as templates
from plait.workflows import store as workflows

log = logging.getLogger("plait.chat")
START_HINT = "Say “run it” (or press Run) to start it."


@dataclass
class Turn:
    """What a route answers, and the run to wake when one started."""

    body: dict[str, Any]
    run_id: int | None = None


def answer(row: ChatSession, reply: str, questions: list[str], run_id: int | None = None) -> Turn:
    proposal = row.state.get("proposal")
    body: dict[str, Any] = {"session_id": row.id, "reply": reply, "proposal": proposal,
                            "questions": questions}  # fmt: skip
    if run_id is not None:
        body["run_id"] = run_id
    return Turn(body, run_id)


async def converse(
    db: Database,
    provider: Provider,
    who: Principal,
    message: str,
    session_id: int | None,
    idempotency_key: str | None = None,
) -> Turn:
    async with db.read() as session:
        if session_id is not None:
            state = dict((await sessions.get(session, session_id, who)).state)
        else:
            state = sessions.empty_state()
        catalog = await catalogs.load(session, who)
    pending = state.get("proposal")
    alternatives = [tuple(a) for a in state.get("alternatives", [])]
    notes: list[str] = []
    try:
        draft = await provider.propose(message, state.get("messages", []), catalog, pending,
                                       alternatives)  # fmt: skip
    except ProviderError as exc:
        log.warning("chat: the %s provider failed: %s", provider.name, exc.reason)
        notes.append(f"The language model gave no answer ({exc.reason}); "
                     "I read your message with the built-in rules instead.")  # fmt: skip
        draft = await RulesProvider().propose(message, [], catalog, pending, alternatives)
    async with db.write() as session:
        await sessions.prune(session)
        if session_id is None:
            row = await sessions.create(session, who)
        else:
            row = await sessions.get(session, session_id, who, lock=True)
        if draft.intent == "confirm":
            return await _confirm_turn(session, row, who, message, idempotency_key, notes)
        if draft.intent == "reset":
            reply = "Forgotten. What would you like to run?"
            _save(row, None, [], message, reply, bump=True)
            return answer(row, reply, [])
        checked = check(draft, catalog)
        reply = _reply(draft, checked.proposal, checked.understood, checked.questions, notes)
        _save(row, checked.proposal, draft.alternatives, message, reply, bump=True)
        return answer(row, reply, checked.questions)


def _reply(
    draft: Draft,
    proposal: dict[str, Any] | None,
    understood: list[str],
    questions: list[str],
    notes: list[str],
) -> str:  # fmt: skip
    parts = [*notes, *draft.notes]
    if proposal is not None:
        parts.append(f"I understood: {', '.join(understood)}.")
    if draft.not_understood:
        parts.append("I did not understand " + ", ".join(repr(s) for s in draft.not_understood)
                     + ".")  # fmt: skip
    parts += questions
    if proposal is not None and proposal["complete"]:
        parts.append(START_HINT)
    return " ".join(parts)


def _save(
    row: ChatSession, proposal: dict[str, Any] | None, alternatives: list[tuple[str, str]],
    message: str, reply: str, *, bump: bool,
) -> None:  # fmt: skip
    state = dict(row.state)
    state["proposal"] = proposal
    state["alternatives"] = [list(a) for a in alternatives][:20]
    state["revision"] = int(state.get("revision", 0)) + (1 if bump else 0)
    state["messages"] = sessions.with_messages(
        state, {"role": "user", "text": message}, {"role": "assistant", "text": reply}
    )
    row.state = state  # a new dict: the JSON column is written


async def _confirm_turn(
    session: AsyncSession, row: ChatSession, who: Principal, message: str,
    idempotency_key: str | None, notes: list[str],
) -> Turn:  # fmt: skip
    proposal = row.state.get("proposal")
    if proposal and proposal.get("done"):
        reply = f"Run {proposal['run_id']} has started already."
        _save(row, proposal, [], message, reply, bump=False)
        return answer(row, reply, [], proposal["run_id"])
    if not proposal or not proposal.get("complete"):
        question = "There is nothing complete to run yet."
        if not proposal:
            question += " " + which_question(await catalogs.load(session, who))
        _save(row, proposal, [], message, question, bump=False)
        return answer(row, " ".join([*notes, question]), [question])
    run_id = await start(session, row, who, idempotency_key)
    reply = " ".join([*notes, f"Started run {run_id}."])
    _save(row, row.state["proposal"], [], message, reply, bump=False)
    return answer(row, reply, [], run_id)


async def confirm(
    db: Database, who: Principal, session_id: int, key: str | None,
    params: dict[str, Any] | None = None,
) -> Turn:  # fmt: skip
    """POST /chat/sessions/{id}/confirm: start the pending proposal (once: a second confirm,
    or the same Idempotency-Key, answers the run it started). `params`, when given (the
    proposal's form as the user edited it), replace the proposal's and are checked by the
    run's own validation (422 naming each field)."""
    async with db.write() as session:
        row = await sessions.get(session, session_id, who, lock=True)
        proposal = row.state.get("proposal")
        if proposal and proposal.get("done"):
            return answer(row, f"Run {proposal['run_id']} has started already.", [],
                          proposal["run_id"])  # fmt: skip
        if not proposal or (params is None and not proposal.get("complete")):
            raise Conflict("this session has no complete proposal to start; answer its "
                           "questions first")  # fmt: skip
        if params is not None:
            row.state = {**row.state, "proposal": {**proposal, "params": params}}
        run_id = await start(session, row, who, key)
        reply = f"Started run {run_id}."
        _save(row, row.state["proposal"], [], "(confirmed)", reply, bump=False)
        return answer(row, reply, [], run_id)


async def start(session: AsyncSession, row: ChatSession, who: Principal, key: str | None) -> int:
    """The run of the proposal, as the trigger route starts one (a template is made into a
    workflow first); the proposal is then marked done with its run."""
    require_role(who, Role.editor)
    proposal = dict(row.state["proposal"])
    key = key or f"chat-{row.id}-{row.state.get('revision', 0)}"
    trigger = "api" if who.api_token_id is not None else "manual"
    params = proposal["params"]
    if proposal["kind"] == "template":
        found = await templates.get(session, proposal["template"], who)
        name = await _free_name(session, f"{found.name}-chat-{row.id}")
        wf = await templates.instantiate(session, who, found, name, {})
        proposal["workflow"] = wf.name
    else:
        wf = await workflows.get(session, proposal["workflow"])
    existing = await session.scalar(
        select(Run).where(Run.workflow_id == wf.id, Run.idempotency_key == key)
    )
    run = existing or await runs.create_run(
        session, wf, params=params, trigger=trigger, who=who, idempotency_key=key,
        description=f"described in chat session {row.id}",
    )  # fmt: skip
    proposal.update(done=True, run_id=run.id)
    row.state = {**row.state, "proposal": proposal}
    return run.id


async def _free_name(session: AsyncSession, base: str) -> str:
    base = base[:90]
    name, n = base, 1
    while await session.scalar(select(Workflow.id).where(Workflow.name == name)) is not None:
        n += 1
        name = f"{base}-{n}"
    return name
