"""Inputs an attacker tried, each of which gave a 500 or was misread: non-ASCII digits, ids
past the INTEGER columns, JSON nested hundreds of levels, null in PATCH bodies, huge log
offsets, numbers as dates. Each is refused with a 4xx problem (or finds nothing), on both
databases."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from plait.db.models import Run
from tests.conftest import Account, workflow_doc
from tests.support.workflows import create_workflow

Accounts = dict[str, Account]
BIG_IDS = (2**31, 2**40, 2**62)  # past int4 (PostgreSQL's INTEGER), within what was allowed
UNICODE_ONES = ("\u0661", "\u00b9", "\uff11")  # Arabic-Indic one, superscript one, fullwidth one


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def nested_text(levels: int, inner: str = "1") -> str:
    """JSON text nested `levels` deep (json.dumps itself recurses, so it cannot make it)."""
    return "[" * levels + inner + "]" * levels


def problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_non_ascii_digits_never_read_as_an_id(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["admin"].headers
    wf = await create_workflow(client, accounts["admin"])
    assert wf["id"] == 1  # so a digit misread as 1 would find it
    for one in UNICODE_ONES:
        problem(await client.get(f"/api/v1/workflows/{one}", headers=h), 404, 422)
        problem(await client.get(f"/api/v1/runs?workflow={one}", headers=h), 404, 422)
        owned = await client.get(f"/api/v1/workflows?owner={one}", headers=h)
        assert owned.status_code == 200 and owned.json()["items"] == []
        rule = {"name": "r", "channel_id": 1, "scope": "workflow", "scope_value": one,
                "events": ["run.failed"]}  # fmt: skip
        problem(await client.post("/api/v1/rules", json=rule, headers=h), 422)
        for if_match in (one, f'"{one}"', f'W/"{one}"'):
            patched = await client.patch(
                "/api/v1/workflows/train",
                json={"description": "x"},
                headers=[
                    *((k.encode(), v.encode()) for k, v in h.items()),
                    (b"If-Match", if_match.encode()),
                ],
            )
            problem(patched, 422)
    assert (await client.get("/api/v1/workflows/train", headers=h)).json()["current_version"] == 1


async def test_ids_are_plain_ascii_digits(client: httpx.AsyncClient, accounts: Accounts) -> None:
    h = accounts["admin"].headers
    await create_workflow(client, accounts["admin"])
    run = await client.post("/api/v1/workflows/train/runs", json={}, headers=h)
    assert run.status_code == 201 and run.json()["id"] == 1
    for spelling in ("+1", "1_0", "1.0", " 1", "01e0", *UNICODE_ONES):
        problem(await client.get(f"/api/v1/runs/{spelling}", headers=h), 422)
        problem(await client.get(f"/api/v1/users/{spelling}", headers=h), 404, 422)
        problem(await client.get(f"/api/v1/deliveries?run_id={spelling}", headers=h), 422)
    assert (await client.get("/api/v1/runs/1", headers=h)).status_code == 200
    for spelling in ("+1", "1.0", UNICODE_ONES[0]):
        versions = "/api/v1/workflows/train/versions"
        problem(await client.get(f"{versions}/{spelling}", headers=h), 422)
        problem(await client.get(f"{versions}?before={spelling}", headers=h), 422)
        problem(
            await client.get(f"/api/v1/runs/1/tasks/load/logs?offset={spelling}", headers=h), 422
        )


async def test_ids_past_the_id_columns_are_refused_not_a_server_error(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["admin"].headers
    await create_workflow(client, accounts["admin"])
    for big in BIG_IDS:
        for path in (f"/runs/{big}", f"/runs/{big}/lineage", f"/users/{big}",
                     f"/channels/{big}", f"/rules/{big}", f"/workflows/train/hooks/{big}",
                     f"/runs/{big}/tasks/load/logs", f"/runs/{big}/metrics"):  # fmt: skip
            method = "PATCH" if path.endswith("/hooks/" + str(big)) else "GET"
            problem(await client.request(method, f"/api/v1{path}", json={}, headers=h), 404, 422)
        for query in (f"deliveries?run_id={big}", f"deliveries?channel_id={big}",
                      f"rules?channel_id={big}", f"users?after_id={big}",
                      f"audit?before_id={big}"):  # fmt: skip
            problem(await client.get(f"/api/v1/{query}", headers=h), 422)
        for ref in (f"/workflows/{big}", f"/runs?workflow={big}"):
            problem(await client.get(f"/api/v1{ref}", headers=h), 404)
        rule = {"name": "r", "channel_id": big, "events": ["run.failed"]}
        problem(await client.post("/api/v1/rules", json=rule, headers=h), 422)
        problem(await client.delete(f"/api/v1/tokens/{big}", headers=h), 404, 422)


async def test_a_forged_cursor_past_the_id_columns_is_refused(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["admin"].headers
    for sort, value in (("-id", 2**40), ("-created", {"dt": "0001-01-01T00:00:00+01:00"})):
        raw = json.dumps({"s": sort, "v": value, "i": 2**40}).encode()
        import base64

        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        route = "deliveries" if sort == "-id" else "runs"
        problem(await client.get(f"/api/v1/{route}?cursor={cursor}", headers=h), 422)


async def test_deep_json_bodies_are_refused_everywhere(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = {**accounts["admin"].headers, "content-type": "application/json"}
    for levels in (40, 900, 100_000):
        body = f'{{"username": {nested_text(levels)}, "password": "x"}}'
        login = await client.post("/api/v1/auth/login", content=body, headers=h)
        assert problem(login, 422)["errors"][0]["field"] == "body"
        doc = f'{{"name": "deep", "description": {nested_text(levels)}}}'
        problem(await client.post("/api/v1/workflows", content=doc, headers=h), 422)
    # Brackets inside strings are text, not nesting.
    fine = workflow_doc("brackets", description="[" * 5000 + "{" * 5000)
    assert (await client.post("/api/v1/workflows", json=fine, headers=h)).status_code == 201


async def test_deep_run_params_are_refused(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """Every run's params pass one bound, whoever starts it: here a hook, whose delivery
    body (not sent as JSON) the request-body check does not see."""
    h = accounts["admin"].headers
    await create_workflow(client, accounts["admin"], params={"p": {"type": "array"}})
    made = await client.post(
        "/api/v1/workflows/train/hooks", json={"name": "h", "params": {"p": "/p"}}, headers=h
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    for n, levels in enumerate((33, 200, 20)):
        delivery = await client.post(
            hook["url"],
            content=f'{{"p": {nested_text(levels)}}}',
            headers={"Authorization": f"Bearer {hook['token']}", "X-Plait-Delivery": f"d{n}",
                     "Content-Type": "text/plain"},
        )  # fmt: skip
        if levels > 32:
            assert problem(delivery, 422)["errors"][0]["field"] == "params.p"
        else:
            assert delivery.status_code == 201, delivery.text


async def test_a_deep_row_stored_before_the_bound_still_lists(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["admin"].headers
    await create_workflow(client, accounts["admin"], params={"p": {"type": "array"}})
    run = (await client.post("/api/v1/workflows/train/runs", json={}, headers=h)).json()
    async with app.state.plait.db.write() as session:
        await session.execute(
            update(Run).where(Run.id == run["id"]).values(params={"p": nested(600)})
        )
    listed = await client.get("/api/v1/runs", headers=h)
    assert listed.status_code == 200, listed.text
    params = listed.json()["items"][0]["params"]
    assert json.dumps(params).count("[") == 31 and "(nested too deep)" in json.dumps(params)
    assert (await client.get(f"/api/v1/runs/{run['id']}", headers=h)).status_code == 200


async def test_patch_refuses_null_for_fields_that_cannot_be_empty(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["admin"].headers
    editor = accounts["editor"]
    for field in ("role", "is_active", "password"):
        answer = await client.patch(f"/api/v1/users/{editor.id}", json={field: None}, headers=h)
        assert problem(answer, 422)["errors"][0]["field"] == field
    cleared = await client.patch(f"/api/v1/users/{editor.id}", json={"email": None}, headers=h)
    assert cleared.status_code == 200 and cleared.json()["role"] == "editor"
    channel = {"name": "c", "kind": "webhook", "config": {"url": "https://example.com/h"},
               "secret": "s" * 32}  # fmt: skip
    made = await client.post("/api/v1/channels", json=channel, headers=h)
    assert made.status_code == 201, made.text
    for body in ({"name": None}, {"enabled": None}, {"config": None}):
        problem(
            await client.patch(f"/api/v1/channels/{made.json()['id']}", json=body, headers=h), 422
        )
    await create_workflow(client, accounts["admin"])
    problem(await client.patch("/api/v1/workflows/train", json={"name": None}, headers=h), 422)
    unscheduled = await client.patch("/api/v1/workflows/train", json={"schedule": None}, headers=h)
    assert unscheduled.status_code == 200, unscheduled.text


async def test_log_offsets_are_bounded(client: httpx.AsyncClient, accounts: Accounts) -> None:
    h = accounts["admin"].headers
    await create_workflow(client, accounts["admin"])
    assert (await client.post("/api/v1/workflows/train/runs", json={}, headers=h)).is_success
    logs = "/api/v1/runs/1/tasks/load/logs"
    far = await client.get(f"{logs}?offset={2**40}", headers=h)
    assert far.status_code == 200 and far.json()["content"] == ""
    for offset in (2**40 + 1, 2**50, 2**63):
        problem(await client.get(f"{logs}?offset={offset}", headers=h), 422)
        problem(await client.get(f"{logs}/stream?offset={offset}", headers=h), 422)


async def test_date_filters_take_iso_8601_text_only(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["admin"].headers
    for value in ("1700000000", "0", "1e9", "0001-01-01T00:00:00%2B01:00",
                  "9999-12-31T23:59:59-01:00"):  # fmt: skip
        problem(await client.get(f"/api/v1/runs?created_after={value}", headers=h), 422)
        problem(await client.get(f"/api/v1/audit?since={value}", headers=h), 422)
    for value in ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00%2B02:00"):
        assert (await client.get(f"/api/v1/runs?created_before={value}", headers=h)).is_success
        assert (await client.get(f"/api/v1/audit?until={value}", headers=h)).is_success


async def test_a_wrong_method_answers_405_with_every_allowed_method(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["admin"].headers
    for path, allowed in (
        ("/api/v1/workflows", "GET, POST"),
        ("/api/v1/workflows/train", "DELETE, GET, PATCH, PUT"),
        ("/healthz", "GET"),
    ):
        answer = await client.request("PURGE", path, headers=h)
        problem(answer, 405)
        assert answer.headers["allow"] == allowed


async def test_the_openapi_document_lists_the_real_error_answers(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    problem_ref = {"$ref": "#/components/schemas/ProblemDetails"}
    assert document["components"]["schemas"]["ProblemDetails"]["required"] == [
        "type", "title", "status", "detail",
    ]  # fmt: skip
    operations = [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]
    assert len(operations) > 50
    for path, method, op in operations:
        codes = {int(c) for c in op["responses"]}
        for code in codes - set(range(100, 400)):
            content = op["responses"][str(code)]["content"]
            assert content == {"application/problem+json": {"schema": problem_ref}}, (path, code)
        if op.get("security"):
            assert 401 in codes, (path, method)
        if op.get("parameters") or op.get("requestBody"):
            assert 422 in codes, (path, method)
        if op.get("requestBody"):
            assert 413 in codes, (path, method)
        if "{" in path:
            assert 404 in codes, (path, method)
        if any(p["name"].lower() == "if-match" for p in op.get("parameters", [])):
            assert 412 in codes, (path, method)
    writes = document["paths"]["/api/v1/workflows"]["post"]["responses"]
    assert {"401", "403", "409", "413", "422"} <= set(writes)
    admin_only = document["paths"]["/api/v1/users"]["get"]["responses"]
    assert "403" in admin_only
    patch = document["paths"]["/api/v1/users/{user_id}"]["patch"]["requestBody"]
    user_patch = document["components"]["schemas"][
        patch["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    ]
    assert "anyOf" not in user_patch["properties"]["role"]  # not nullable: null is refused
    assert any(o.get("type") == "null" for o in user_patch["properties"]["email"]["anyOf"])
