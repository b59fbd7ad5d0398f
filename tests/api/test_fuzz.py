"""No input, however malformed, gives a 500: generated documents thrown at the write routes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Account, workflow_doc

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
names = st.sampled_from(["a", "b", "load", "x-1", "9", "", "a\x00"]) | st.text(max_size=12)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | json_values


tasks = st.fixed_dictionaries(
    {"key": maybe(names), "kind": maybe(st.sampled_from(["python", "shell", "callable", "x"]))},
    optional={
        "code": maybe(st.text(max_size=40)),
        "command": maybe(st.text(max_size=20)),
        "callable": maybe(st.sampled_from(["m:f", "a.b:c", ":", "x"])),
        "depends_on": maybe(st.lists(names, max_size=3)),
        "retries": maybe(st.integers()),
        "timeout": maybe(st.floats(allow_nan=False, allow_infinity=False)),
        "env": maybe(st.dictionaries(names, st.text(max_size=5), max_size=2)),
    },
)
params = st.fixed_dictionaries(
    {},
    optional={
        "type": maybe(st.sampled_from(["string", "integer", "number", "boolean", "array"])),
        "default": json_values,
        "enum": maybe(st.lists(scalars, max_size=3)),
        "minimum": maybe(st.integers() | st.floats(allow_nan=False, allow_infinity=False)),
        "maximum": maybe(st.integers() | st.floats(allow_nan=False, allow_infinity=False)),
        "required": json_values,
    },
)
documents = st.fixed_dictionaries(
    {"name": maybe(names)},
    optional={
        "description": maybe(st.text(max_size=30)),
        "tags": maybe(st.lists(names, max_size=3)),
        "schedule": maybe(
            st.sampled_from(["@daily", "* * * * *", "99 * * * *", "@x", "a b c d e"])
        ),
        "timezone": maybe(st.sampled_from(["UTC", "Europe/Berlin", "Nowhere/X", "../etc"])),
        "params": maybe(st.dictionaries(names, maybe(params), max_size=3)),
        "max_active_runs": maybe(st.integers()),
        "tasks": maybe(st.lists(maybe(tasks), max_size=4)),
        "paused": json_values,
    },
)


async def test_generated_documents_never_give_a_500(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    headers = accounts["admin"].headers
    base = await client.post("/api/v1/workflows", json=workflow_doc("base"), headers=headers)
    assert base.is_success
    loop = asyncio.get_running_loop()

    def send(method: str, path: str, body: Any) -> httpx.Response:
        # Hypothesis drives from a worker thread; requests run on the app's own event loop.
        call = client.request(method, path, json=body, headers=headers)
        return asyncio.run_coroutine_threadsafe(call, loop).result(timeout=30)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        document=documents,
        task=maybe(tasks),
        method=st.sampled_from(["POST", "PUT", "PATCH", "TASK"]),
    )
    def throw(document: dict[str, Any], task: Any, method: str) -> None:
        if method == "POST":
            response = send("POST", "/api/v1/workflows", document)
        elif method == "TASK":
            response = send("POST", "/api/v1/workflows/base/tasks", task)
        else:
            response = send(method, "/api/v1/workflows/base", document)
        assert response.status_code < 500, (document, response.text)
        assert response.headers["content-type"] in ("application/json", "application/problem+json")

    await asyncio.to_thread(throw)
