"""The phrasings of corpus.yaml through POST /api/v1/chat (rules parser), against real
workflows and datasets: what each proposes, asks and says it did not understand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.api.test_workflows import Accounts
from tests.support.chat import make_world, say

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus.yaml").read_text())


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 40
    assert sum(isinstance(c["say"], list) for c in CORPUS) >= 6  # follow-ups


def _proposal_problems(case: dict[str, Any], proposal: dict[str, Any]) -> list[str]:
    out = []
    for kind in ("workflow", "template"):
        if kind in case and (proposal["kind"], proposal[kind]) != (kind, case[kind]):
            out.append(f"target {proposal['kind']} {proposal.get(proposal['kind'])}")
    for name, value in case.get("params", {}).items():
        if proposal["params"].get(name) != value:
            out.append(f"{name} = {proposal['params'].get(name)!r}, not {value!r}")
    if "complete" in case and proposal["complete"] != case["complete"]:
        out.append(f"complete is {proposal['complete']}")
    out += [
        f"{said!r} not in not_understood {proposal['not_understood']}"
        for said in case.get("not_understood", [])
        if said not in proposal["not_understood"]
    ]
    return out


def _problems(case: dict[str, Any], answer: dict[str, Any]) -> list[str]:
    proposal = answer["proposal"]
    if case.get("no_proposal"):
        out = [f"proposed {proposal}"] if proposal is not None else []
    elif proposal is None:
        return [f"no proposal; questions {answer['questions']}"]
    else:
        out = _proposal_problems(case, proposal)
    asked = " | ".join(answer["questions"])
    out += [f"{words!r} not asked: {asked!r}" for words in case.get("questions", [])
            if words not in asked]  # fmt: skip
    out += [f"question {q!r} not in the reply" for q in answer["questions"]
            if q not in answer["reply"]]  # fmt: skip
    return out


async def test_corpus(client: httpx.AsyncClient, accounts: Accounts) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    failures = []
    for case in CORPUS:
        messages = case["say"] if isinstance(case["say"], list) else [case["say"]]
        session_id = None
        for message in messages:
            response = await say(client, editor, message, session_id)
            assert response.status_code == 200, (message, response.text)
            answer = response.json()
            session_id = answer["session_id"]
        problems = _problems(case, answer)
        if problems:
            failures.append(f"{messages}: {'; '.join(problems)}\n    reply: {answer['reply']}")
    assert not failures, "\n".join(failures)
