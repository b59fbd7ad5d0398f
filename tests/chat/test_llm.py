"""The OpenAI-compatible provider against a loopback server that speaks the chat completions
protocol: what it is sent, and that what it answers is checked like the rules parser's."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from plait.settings import Settings
from tests.api.test_workflows import Accounts
from tests.support.chat import make_world, say

KEY = "sk-test-" + "k" * 40
Answer = Callable[[dict[str, Any]], tuple[int, bytes]]


@dataclass
class Completions:
    url: str = ""
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    answer: Answer = field(default=lambda body: (500, b"unset"))
    delay: float = 0.0


def completion(content: Any) -> tuple[int, bytes]:
    """A chat.completion whose message is `content` (JSON-encoded unless a string)."""
    text = content if isinstance(content, str) else json.dumps(content)
    body = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
        "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip
    return 200, json.dumps(body).encode()


def proposal(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"intent": "propose", "kind": "workflow", "name": "iris-training",
                           "params": {"n_estimators": 250}, "dataset": {"name": "flowers",
                           "version": 1}, "not_understood": [], "question": None}  # fmt: skip
    return {**out, **over}


@pytest.fixture
def llm() -> Iterator[Completions]:
    state = Completions()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            time.sleep(state.delay)
            status, out = (404, b"{}") if self.path != "/v1/chat/completions" else \
                state.answer(body)  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def settings(settings: Settings, llm: Completions) -> Settings:
    return settings.model_copy(update={
        "chat_provider": "openai", "chat_llm_url": llm.url, "chat_llm_key": SecretStr(KEY),
        "chat_llm_model": "test-model", "chat_llm_timeout_seconds": 1.0,
    })  # fmt: skip


async def test_the_model_is_asked_properly_and_its_proposal_checked(
    client: httpx.AsyncClient, accounts: Accounts, llm: Completions
) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    llm.answer = lambda body: completion(proposal())
    first = (await say(client, editor, "the iris one, 250 trees, flowers first version")).json()
    assert first["proposal"]["workflow"] == "iris-training"
    assert first["proposal"]["params"] == {"n_estimators": 250, "dataset": "flowers",
                                           "dataset_version": 1}  # fmt: skip
    assert first["proposal"]["complete"] is True

    headers, body = llm.requests[0]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "test-model"
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]["schema"]
    assert set(schema["required"]) >= {"kind", "name", "params", "dataset", "question"}
    system, user = body["messages"][0], body["messages"][-1]
    assert system["role"] == "system"
    assert user == {"role": "user", "content": "the iris one, 250 trees, flowers first version"}
    catalog = system["content"]
    assert '"iris-training"' in catalog and '"n_estimators"' in catalog
    assert '"flowers"' in catalog and '"sklearn-training"' in catalog  # templates too

    llm.answer = lambda body: completion(proposal(params={"n_estimators": 260}))
    sid = first["session_id"]
    await say(client, editor, "make it 260", sid)
    _, follow_up = llm.requests[1]
    turns = [m["role"] for m in follow_up["messages"]]
    assert turns == ["system", "user", "assistant", "user"]  # the conversation so far
    assert "250" in follow_up["messages"][0]["content"]  # the pending proposal

    llm.answer = lambda body: completion(proposal(intent="confirm"))
    started = (await say(client, editor, "ship it", sid)).json()
    run = (await client.get(f"/api/v1/runs/{started['run_id']}", headers=editor.headers)).json()
    assert run["params"]["n_estimators"] == 260


async def test_what_the_model_makes_up_is_not_accepted(
    client: httpx.AsyncClient, accounts: Accounts, llm: Completions
) -> None:
    editor = accounts["editor"]
    await make_world(client, editor)
    llm.answer = lambda body: completion(proposal(name="iris-trainer"))
    unknown = (await say(client, editor, "train iris")).json()
    assert unknown["proposal"] is None
    assert "I know no workflow 'iris-trainer'; did you mean 'iris-training'?" in unknown["reply"]

    llm.answer = lambda body: completion(proposal(params={"n_estimators": 99999}))
    too_many = (await say(client, editor, "train iris with lots of trees")).json()
    assert too_many["proposal"]["complete"] is False
    assert "n_estimators: must be <= 1000 (allowed: 1 to 1000)." in too_many["questions"]
    url = f"/api/v1/chat/sessions/{too_many['session_id']}/confirm"
    assert (await client.post(url, headers=editor.headers)).status_code == 409

    llm.answer = lambda body: completion(proposal(params={"colour": "blue"}))
    stray = (await say(client, editor, "iris in blue")).json()
    assert stray["proposal"]["complete"] is False
    assert any(q.startswith("colour: unknown parameter") for q in stray["questions"])

    llm.answer = lambda body: completion(proposal(dataset={"name": "flowers", "version": 9}))
    version = (await say(client, editor, "iris on flowers v9")).json()
    assert "Dataset flowers has no version 9; its versions: 1, 2, 3." in version["questions"]


@pytest.mark.parametrize("failure", ["garbage", "http_error", "timeout", "not_json"])
async def test_a_failing_model_falls_back_to_the_rules(
    client: httpx.AsyncClient, accounts: Accounts, llm: Completions, failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    editor = accounts["editor"]
    await make_world(client, editor)
    llm.answer = {
        "garbage": lambda body: completion({"kind": 12, "name": ["x"]}),
        "http_error": lambda body: (500, json.dumps({"error": {"message": KEY}}).encode()),
        "timeout": lambda body: completion(proposal()),
        "not_json": lambda body: completion("Sure! Here is your run: iris-training"),
    }[failure]
    if failure == "timeout":
        llm.delay = 1.5
    answer = await say(client, editor, "batch inference with batch size 32")
    assert answer.status_code == 200
    body = answer.json()
    assert "I read your message with the built-in rules instead" in body["reply"]
    assert body["proposal"]["workflow"] == "batch-inference"  # the rules parser's reading
    assert body["proposal"]["params"] == {"batch_size": 32}
    assert KEY not in answer.text and KEY not in caplog.text


async def test_an_unreachable_model_falls_back_too(
    client: httpx.AsyncClient, accounts: Accounts, llm: Completions
) -> None:
    llm.answer = lambda body: (404, b"{}")
    editor = accounts["editor"]
    await make_world(client, editor)
    body = (await say(client, editor, "batch inference")).json()
    assert "(it answered HTTP 404)" in body["reply"]
    assert body["proposal"]["workflow"] == "batch-inference"
