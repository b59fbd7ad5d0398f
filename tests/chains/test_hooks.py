"""Inbound hooks: signed or token deliveries start runs with params taken from the payload;
unsigned, wrongly signed, replayed and stale ones are refused; a delivery id starts one run."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plait.orchestration.hooks import sign
from plait.orchestration.pointer import PointerError, resolve
from tests.conftest import Account, workflow_doc
from tests.orchestration.test_engine import wait

Accounts = dict[str, Account]
PAYLOAD = {"config": {"lr": 0.25, "a/b": {"~x": 0.5}}, "items": [0.75], "note": "from CI"}
MAPPING = {"lr": "/config/lr"}


async def new_hook(
    client: httpx.AsyncClient, who: Account, mapping: dict[str, str] | None = None, **doc: Any
) -> dict[str, Any]:
    created = await client.post("/api/v1/workflows", json=workflow_doc(**doc), headers=who.headers)
    assert created.status_code == 201, created.text
    name = created.json()["name"]
    hook = await client.post(f"/api/v1/workflows/{name}/hooks",
                             json={"name": "ci", "params": MAPPING if mapping is None else mapping},
                             headers=who.headers)  # fmt: skip
    assert hook.status_code == 201, hook.text
    body: dict[str, Any] = hook.json()
    return body


def signed(
    hook: dict[str, Any], body: bytes, delivery: str | None = None, at: float | None = None
) -> dict[str, str]:
    delivery = uuid.uuid4().hex if delivery is None else delivery
    stamp = str(int(time.time() if at is None else at))
    return {"X-Plait-Delivery": delivery, "X-Plait-Timestamp": stamp,
            "X-Plait-Signature": sign(hook["secret"], stamp, delivery, body),
            "Content-Type": "application/json"}  # fmt: skip


async def deliver(
    client: httpx.AsyncClient, hook: dict[str, Any], body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(hook["url"], content=body, headers=headers)


BODY = json.dumps(PAYLOAD).encode()


async def test_a_signed_delivery_starts_a_run_with_mapped_params(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    hook = await new_hook(client, editor)
    assert hook["secret"] and hook["token"].startswith("plh_")
    response = await deliver(client, hook, BODY, signed(hook, BODY))
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["params"] == {"lr": 0.25} and out["duplicate"] is False
    assert out["workflow"] == "train" and response.headers["location"].endswith(str(out["run_id"]))
    run = await wait(client, editor, out["run_id"])
    assert run["trigger"] == "webhook" and run["params"] == {"lr": 0.25}
    assert run["status"] == "succeeded"


async def test_the_hook_token_works_instead_of_a_signature(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    hook = await new_hook(client, accounts["editor"], {"lr": "/items/0"})
    headers = {"X-Plait-Delivery": "d-1", "Authorization": f"Bearer {hook['token']}"}
    response = await deliver(client, hook, BODY, headers)
    assert response.status_code == 201, response.text
    assert response.json()["params"] == {"lr": 0.75}
    wrong = {"X-Plait-Delivery": "d-2", "Authorization": "Bearer plh_not-the-token"}
    assert (await deliver(client, hook, BODY, wrong)).status_code == 401


async def test_unsigned_wrongly_signed_and_replayed_deliveries_get_401(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    hook = await new_hook(client, editor)
    good = signed(hook, BODY, "d-1")
    refused = {
        "unsigned": {"X-Plait-Delivery": "d-1"},
        "nothing at all": {},
        "no timestamp": {k: v for k, v in good.items() if k != "X-Plait-Timestamp"},
        "no signature": {k: v for k, v in good.items() if k != "X-Plait-Signature"},
        "other secret": signed({"secret": "not-the-secret"}, BODY, "d-1"),
        "body changed": signed(hook, b'{"config": {"lr": 0.9}}', "d-1"),
        # A captured request sent again under a new delivery id: the id is signed too.
        "new delivery id": {**good, "X-Plait-Delivery": "d-2"},
        "token as signature": {**good, "X-Plait-Signature": "sha256=" + hook["token"]},
        "not a timestamp": {**good, "X-Plait-Timestamp": "yesterday"},
    }
    for why, headers in refused.items():
        response = await deliver(client, hook, BODY, headers)
        assert response.status_code == 401, (why, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert hook["secret"] not in response.text
    no_id = {k: v for k, v in signed(hook, BODY, "").items() if k != "X-Plait-Delivery"}
    missing = await deliver(client, hook, BODY, no_id)
    assert (
        missing.status_code == 422
        and missing.json()["errors"][0]["field"] == "header.X-Plait-Delivery"
    )
    tampered = await client.post(hook["url"], content=b'{"config": {"lr": 0.9}}', headers=good)
    assert tampered.status_code == 401
    runs = await client.get("/api/v1/runs?workflow=train", headers=editor.headers)
    assert runs.json()["items"] == []  # nothing started


async def test_stale_deliveries_get_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    hook = await new_hook(client, accounts["editor"])
    for offset in (-301, 301, -10 * 86400):
        headers = signed(hook, BODY, at=time.time() + offset)
        response = await deliver(client, hook, BODY, headers)
        assert response.status_code == 401, (offset, response.text)
        assert "stale" in response.json()["detail"]
    recent = await deliver(client, hook, BODY, signed(hook, BODY, at=time.time() - 200))
    assert recent.status_code == 201, recent.text


async def test_the_same_delivery_id_twice_starts_one_run(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    hook = await new_hook(client, editor)
    first = await deliver(client, hook, BODY, signed(hook, BODY, "same"))
    # The sender retries: signed again (a new timestamp), and a replay of the first as it was.
    again = await deliver(client, hook, BODY, signed(hook, BODY, "same", time.time() + 1))
    replay = await deliver(client, hook, BODY, signed(hook, BODY, "same"))
    assert first.status_code == 201 and again.status_code == replay.status_code == 200
    assert again.json()["run_id"] == replay.json()["run_id"] == first.json()["run_id"]
    assert again.json()["duplicate"] is True
    other = await deliver(client, hook, BODY, signed(hook, BODY, "other"))
    assert other.status_code == 201 and other.json()["run_id"] != first.json()["run_id"]
    runs = await client.get("/api/v1/runs?workflow=train", headers=editor.headers)
    assert len(runs.json()["items"]) == 2


async def test_a_pointer_that_does_not_resolve_gets_422_naming_the_param(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    hook = await new_hook(client, accounts["editor"], {"lr": "/config/missing"})
    response = await deliver(client, hook, BODY, signed(hook, BODY, "d-1"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "params.lr"
    not_json = await deliver(client, hook, b"lr=1", signed(hook, b"lr=1", "d-2"))
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["field"] == "body"
    nan = b'{"config": {"missing": NaN}}'
    assert (await deliver(client, hook, nan, signed(hook, nan, "d-3"))).status_code == 422


async def test_mapped_params_are_checked_by_the_workflow_schema(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    hook = await new_hook(client, accounts["editor"], {"lr": "/note"})
    response = await deliver(client, hook, BODY, signed(hook, BODY, "d-1"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "params.lr"
    # Not recorded as delivered: once the mapping is fixed, the sender's retry starts the run.
    path = f"/api/v1/workflows/train/hooks/{hook['id']}"
    fixed = await client.patch(path, json={"params": MAPPING}, headers=accounts["editor"].headers)
    assert fixed.status_code == 200, fixed.text
    retry = await deliver(client, hook, BODY, signed(hook, BODY, "d-1"))
    assert retry.status_code == 201, retry.text


async def test_unknown_disabled_and_deleted_hooks_get_404(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    hook = await new_hook(client, editor)
    unknown = {**hook, "url": "/api/v1/hooks/no-such-hook"}
    assert (await deliver(client, unknown, BODY, signed(hook, BODY))).status_code == 404
    path = f"/api/v1/workflows/train/hooks/{hook['id']}"
    off = await client.patch(path, json={"enabled": False}, headers=editor.headers)
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert (await deliver(client, hook, BODY, signed(hook, BODY))).status_code == 404
    await client.patch(path, json={"enabled": True}, headers=editor.headers)
    assert (await deliver(client, hook, BODY, signed(hook, BODY))).status_code == 201
    assert (await client.delete(path, headers=editor.headers)).status_code == 204
    assert (await deliver(client, hook, BODY, signed(hook, BODY))).status_code == 404


async def test_a_paused_workflow_refuses_deliveries(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    hook = await new_hook(client, accounts["editor"], paused=True)
    response = await deliver(client, hook, BODY, signed(hook, BODY))
    assert response.status_code == 409, response.text


async def test_hook_management_shows_secrets_once_and_checks_the_mapping(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor, admin = accounts["editor"], accounts["admin"]
    hook = await new_hook(client, editor)
    listed = await client.get("/api/v1/workflows/train/hooks", headers=editor.headers)
    assert listed.status_code == 200 and [h["id"] for h in listed.json()] == [hook["id"]]
    assert "secret" not in listed.json()[0] and "token" not in listed.json()[0]
    assert hook["secret"] not in listed.text and hook["token"] not in listed.text
    audit = await client.get("/api/v1/audit?action=hook.", headers=admin.headers)
    assert [e["action"] for e in audit.json()["items"]] == ["hook.create"]
    assert hook["secret"] not in audit.text and hook["token"] not in audit.text
    bad = await client.post("/api/v1/workflows/train/hooks", headers=editor.headers,
                            json={"name": "x", "params": {"nope": "/a", "lr": "a"}})  # fmt: skip
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"params.nope", "params.lr"}
    mine = await client.get(
        "/api/v1/workflows/train/hooks", headers=accounts["other_editor"].headers
    )
    assert mine.status_code == 403


@pytest.mark.parametrize(
    ("pointer", "value"),
    [("", PAYLOAD), ("/config/lr", 0.25), ("/config/a~1b/~0x", 0.5), ("/items/0", 0.75)],
)
def test_json_pointers_resolve(pointer: str, value: Any) -> None:
    assert resolve(PAYLOAD, pointer) == value


@pytest.mark.parametrize(
    "pointer", ["config", "/items/1", "/items/00", "/items/-", "/note/x", "/~2"]
)
def test_json_pointers_that_do_not_resolve(pointer: str) -> None:
    with pytest.raises(PointerError):
        resolve(PAYLOAD, pointer)
