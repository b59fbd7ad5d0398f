"""A language model behind any OpenAI-compatible chat completions API.

It is sent the caller's catalog (what they may see: workflows with their params schemas,
templates, datasets), the pending proposal and the conversation, and asked for the whole
proposal as JSON (`response_format: json_schema`). What it answers is only a draft: the
same `proposal.check` as the rules parser's decides what stands. The key is sent as a
bearer token and nowhere else: no log line, reply or error names it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plait.chat.catalog import Catalog
from plait.chat.draft import Draft
from plait.chat.provider import ProviderError
from plait.settings import Settings

log = logging.getLogger("plait.chat")
MAX_ANSWER_BYTES = 256 * 1024

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": ["propose", "confirm", "reset"]},
        "kind": {"type": ["string", "null"], "enum": ["workflow", "template", None]},
        "name": {"type": ["string", "null"]},
        "params": {"type": "object", "description": "param name -> value, as the schema types"},
        "dataset": {
            "type": ["object", "null"],
            "properties": {
                "name": {"type": ["string", "null"]},
                "version": {"type": ["integer", "null"]},
            },
            "required": ["name", "version"],
            "additionalProperties": False,
        },
        "not_understood": {"type": "array", "items": {"type": "string"}},
        "question": {"type": ["string", "null"]},
    },
    "required": ["intent", "kind", "name", "params", "dataset", "not_understood", "question"],
    "additionalProperties": False,
}

SYSTEM = """You turn a user's description of a run into a proposal for the Plait workflow \
platform. Use only the workflows, templates and datasets of the catalog below, with their \
exact names; params only from the chosen one's params schema, typed as the schema says \
(fractions as numbers between 0 and 1). Answer the WHOLE proposal after the user's last \
message (edit the pending one when they change something). If nothing in the catalog fits, \
set kind and name to null and ask a question. intent is "confirm" only when the user says to \
start the pending proposal (yes, run it, go), "reset" when they give it up. List words you \
could not place in not_understood.

Catalog: {catalog}

Pending proposal: {proposal}"""


class _Dataset(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    intent: Literal["propose", "confirm", "reset"] = "propose"
    kind: Literal["workflow", "template"] | None = None
    name: str | None = Field(default=None, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict, max_length=200)
    dataset: _Dataset | None = None
    not_understood: list[str] = Field(default_factory=list, max_length=50)
    question: str | None = Field(default=None, max_length=2000)


class LlmProvider:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.url = (settings.chat_llm_url or "").rstrip("/") + "/chat/completions"
        self.key = settings.chat_llm_key
        self.model = settings.chat_llm_model
        self.timeout = settings.chat_llm_timeout_seconds
        self.configured = bool(settings.chat_llm_url)

    def request(
        self, message: str, history: list[dict[str, Any]], catalog: Catalog,
        proposal: dict[str, Any] | None,
    ) -> dict[str, Any]:  # fmt: skip
        pending = None
        if proposal and not proposal.get("done"):
            pending = {k: v for k, v in proposal.items() if k != "params_schema"}
        system = SYSTEM.format(catalog=json.dumps(catalog.as_json()),
                               proposal=json.dumps(pending))  # fmt: skip
        turns = [{"role": "assistant" if m.get("role") == "assistant" else "user",
                  "content": str(m.get("text", ""))} for m in history]  # fmt: skip
        return {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": system},
                *turns,
                {"role": "user", "content": message},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "run_proposal", "strict": False, "schema": ANSWER_SCHEMA},
            },
        }

    async def propose(
        self,
        message: str,
        history: list[dict[str, Any]],
        catalog: Catalog,
        proposal: dict[str, Any] | None,
        alternatives: list[tuple[str, str]],
    ) -> Draft:
        if not self.configured:
            raise ProviderError("PLAIT_CHAT_LLM_URL is not set")
        body = self.request(message, history, catalog, proposal)
        headers = {"Authorization": f"Bearer {self.key.get_secret_value()}"} if self.key else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise ProviderError(f"no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"could not reach it ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise ProviderError(f"it answered HTTP {response.status_code}")
        if len(response.content) > MAX_ANSWER_BYTES:
            raise ProviderError("its answer was too long")
        answer = _answer(response)
        log.info("chat: the language model proposed %s %s", answer.kind, answer.name)
        return Draft(
            kind=answer.kind,
            name=answer.name,
            params=answer.params,
            dataset=answer.dataset.model_dump() if answer.dataset else None,
            not_understood=[s[:100] for s in answer.not_understood],
            questions=[answer.question] if answer.question else [],
            intent=answer.intent,
        )


def _answer(response: httpx.Response) -> Answer:
    try:
        content = response.json()["choices"][0]["message"]["content"]
        return Answer.model_validate(json.loads(content))
    except (ValueError, KeyError, IndexError, TypeError, ValidationError):
        raise ProviderError("its answer was not the JSON asked for") from None
