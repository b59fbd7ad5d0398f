"""Trigger definitions are checked at save time: the syntax, the workflows they name, and
cycles across workflows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from plait.cli.yamlio import from_yaml
from plait.workflows.spec import WorkflowSpec, problems
from tests.chains.helpers import create
from tests.conftest import Account

Accounts = dict[str, Account]


def doc(name: str, *on: str, **extra: Any) -> dict[str, Any]:
    """A workflow with a param `x` and a success trigger on each of `on`."""
    return {"name": name, "params": {"x": {"type": "string"}},
            "tasks": [{"key": "t", "kind": "shell", "command": "true"}],
            "triggers": [{"workflow": w} for w in on], **extra}  # fmt: skip


def errors(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_cycles_across_workflows_are_refused_at_save_time(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    for d in (doc("a"), doc("b", "a"), doc("c", "b")):
        assert (await create(client, editor, d)).status_code == 201
    closing = await client.put("/api/v1/workflows/a", json=doc("a", "c"), headers=editor.headers)
    assert errors(closing) == {"triggers[0].workflow": "trigger cycle: a -> b -> c -> a"}
    both = {"triggers": [{"workflow": "a"}, {"workflow": "c", "on": "failure"}]}
    two = await client.patch("/api/v1/workflows/b", json=both, headers=editor.headers)
    assert errors(two) == {"triggers[1].workflow": "trigger cycle: b -> c -> b"}
    itself = await create(client, editor, doc("d", "d"))
    assert errors(itself) == {"triggers[0].workflow": "trigger cycle: d -> d"}
    # A dangling trigger closes a cycle when a workflow takes its name, by a rename too.
    assert (await create(client, editor, doc("f"))).status_code == 201
    assert (await create(client, editor, doc("e", "f"))).status_code == 201
    assert (await client.delete("/api/v1/workflows/f", headers=editor.headers)).status_code == 204
    renamed = await client.put("/api/v1/workflows/c", json=doc("f", "e"), headers=editor.headers)
    assert errors(renamed) == {"triggers[0].workflow": "trigger cycle: f -> e -> f"}


async def test_triggers_name_existing_workflows_and_own_params(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    assert (await create(client, editor, doc("up"))).status_code == 201
    bad = doc("down", "nowhere", "up")
    bad["triggers"][1]["params"] = {"y": "params.x", "x": "outputs.t.result"}
    assert errors(await create(client, editor, bad)) == {
        "triggers[0].workflow": "no workflow named 'nowhere'",
        "triggers[1].params.y": "not a param of this workflow",
    }
    overlap = doc("down", "up")
    overlap["triggers"].append({"workflow": "up", "on": "any"})
    assert list(errors(await create(client, editor, overlap))) == ["triggers[1].on"]


async def test_a_trigger_on_a_deleted_workflow_does_not_block_other_changes(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    for d in (doc("up"), doc("down", "up")):
        assert (await create(client, editor, d)).status_code == 201
    assert (await client.delete("/api/v1/workflows/up", headers=editor.headers)).status_code == 204
    for change in ({"paused": True}, {"description": "still here"}):
        response = await client.patch("/api/v1/workflows/down", json=change,
                                      headers=editor.headers)  # fmt: skip
        assert response.status_code == 200, response.text
    other = await client.patch("/api/v1/workflows/down", json={"triggers": [{"workflow": "gone"}]},
                               headers=editor.headers)  # fmt: skip
    assert errors(other) == {"triggers[0].workflow": "no workflow named 'gone'"}


def test_trigger_syntax() -> None:
    spec = WorkflowSpec.model_validate(
        doc("w", "up") | {"triggers": [{"workflow": "up", "on": "any",
                                        "params": {"x": "outputs.fit.metrics.auc"}}]}
    )  # fmt: skip
    assert problems(spec) == []
    assert spec.triggers[0].on == "any"
    for source in ("param.x", "outputs.fit", "outputs.fit.", "params.", "x", "outputs..k"):
        with pytest.raises(ValidationError):
            WorkflowSpec.model_validate(
                doc("w") | {"triggers": [{"workflow": "up", "params": {"x": source}}]}
            )
    with pytest.raises(ValidationError):
        WorkflowSpec.model_validate(doc("w") | {"triggers": [{"workflow": "up", "on": "done"}]})


def test_definitions_without_triggers_keep_their_hash() -> None:
    assert "triggers" not in WorkflowSpec.model_validate(doc("w")).canonical()


def test_on_in_yaml_stays_a_string() -> None:
    text = "name: w\ntasks: []\ntriggers:\n  - workflow: up\n    on: failure\n"
    assert from_yaml(text)["triggers"] == [{"workflow": "up", "on": "failure"}]
