"""Workflows over HTTP: create, read, validate, update with versions, clone, tasks."""

from __future__ import annotations

from typing import Any

import httpx

from plait.cli.yamlio import to_yaml
from tests.conftest import Account, workflow_doc
from tests.support.workflows import create_workflow

Accounts = dict[str, Account]


async def test_create_and_read_by_id_and_name(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    response = await client.post(
        "/api/v1/workflows",
        json=workflow_doc(schedule="0 6 * * 1-5", timezone="America/New_York"),
        headers=editor.headers,
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/api/v1/workflows/{created['id']}"
    assert created["owner"] == "ed" and created["current_version"] == 1
    assert len(created["next_fire_times"]) == 3
    assert created["next_fire_times"][0] < created["next_fire_times"][1]
    for ref in (created["id"], "train"):
        got = await client.get(f"/api/v1/workflows/{ref}", headers=accounts["viewer"].headers)
        assert got.status_code == 200
        assert got.json()["tasks"][1]["depends_on"] == ["load"]


async def test_validation_errors_come_as_problem_json_with_paths(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    doc = workflow_doc(
        schedule="not cron",
        tasks=[
            {"key": "a", "kind": "python", "code": "x = (", "depends_on": ["b"]},
            {"key": "b", "kind": "shell", "command": "true", "depends_on": ["a"]},
        ],
    )
    response = await client.post("/api/v1/workflows", json=doc, headers=accounts["editor"].headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:plait:problem:validation"
    fields = {e["field"]: e["message"] for e in problem["errors"]}
    assert fields["tasks.a.code"].startswith("line 1")
    assert "cycle" in fields["tasks.a.depends_on"]
    assert "schedule" in fields


async def test_structural_errors_name_the_field(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    doc = workflow_doc(name="9lives", max_active_runs=0)
    doc["tasks"][0]["retries"] = "many"
    response = await client.post("/api/v1/workflows", json=doc, headers=accounts["editor"].headers)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"name", "max_active_runs", "tasks.load.retries"} <= fields


async def test_a_taken_name_is_a_conflict(client: httpx.AsyncClient, accounts: Accounts) -> None:
    await create_workflow(client, accounts["editor"])
    again = await client.post(
        "/api/v1/workflows", json=workflow_doc(), headers=accounts["admin"].headers
    )
    assert again.status_code == 409
    assert again.json()["type"] == "urn:plait:problem:conflict"


async def test_missing_workflow_is_404(client: httpx.AsyncClient, accounts: Accounts) -> None:
    for ref in ("nope", "123456", "99999999999999999999999"):
        response = await client.get(f"/api/v1/workflows/{ref}", headers=accounts["viewer"].headers)
        assert response.status_code == 404
        assert response.json()["type"] == "urn:plait:problem:not-found"


async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient, accounts: Accounts) -> None:
    doc = workflow_doc(description="x" * (1024 * 1024 + 1))
    response = await client.post("/api/v1/workflows", json=doc, headers=accounts["editor"].headers)
    assert response.status_code == 413
    assert response.json()["type"] == "urn:plait:problem:payload-too-large"


async def test_a_streamed_body_over_the_limit_is_413(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        "/api/v1/workflows",
        content=chunks(),
        headers={**accounts["editor"].headers, "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_malformed_input_never_gives_500(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["admin"].headers
    json_h = {**h, "content-type": "application/json"}
    nan_doc = b'{"name": "n", "params": {"p": {"type": "number", "default": NaN}}}'
    nul_param = b'{"name": "n", "params": {"p": {"enum": ["a\\u0000"]}}}'
    await create_workflow(client, accounts["admin"])
    attempts = [
        client.post("/api/v1/workflows", content=b"{not json", headers=h),
        client.post("/api/v1/workflows", content=b"\xff\xfe", headers=h),
        client.post("/api/v1/workflows", json=[1, 2], headers=h),
        client.post("/api/v1/workflows", json={"name": "a\x00b"}, headers=h),
        client.post("/api/v1/workflows", json=workflow_doc(description="a\x00b"), headers=h),
        client.post("/api/v1/workflows", content=nan_doc, headers=json_h),
        client.post("/api/v1/workflows", content=nul_param, headers=json_h),
        client.get("/api/v1/workflows?q=%00", headers=h),
        client.get("/api/v1/workflows?limit=-1", headers=h),
        client.get("/api/v1/workflows?cursor=%%%", headers=h),
        client.get("/api/v1/workflows?cursor=eyJzIjoibmFtZSIsInYiOjEsImkiOjF9", headers=h),
        client.get("/api/v1/workflows/train/versions/0", headers=h),
        client.get("/api/v1/workflows/train/versions/99999999999999999999", headers=h),
        client.put("/api/v1/workflows/train", json=workflow_doc(), headers={**h, "If-Match": "x"}),
        client.patch("/api/v1/workflows/train", json={"tasks": "nope"}, headers=h),
        client.patch("/api/v1/workflows/train", json={"tasks": [{"key": 1}]}, headers=h),
        client.get("/api/v1/users/abc", headers=h),
        client.get("/api/v1/audit?since=yesterday", headers=h),
        client.get("/api/v1/audit?since=2026-01-01T00:00:00", headers=h),
    ]
    for attempt in attempts:
        response = await attempt
        assert 400 <= response.status_code < 500, (response.request.url, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_routes_and_methods_are_problems(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    missing = await client.get("/api/v1/nothing-here", headers=accounts["viewer"].headers)
    wrong = await client.put("/healthz")
    assert missing.status_code == 404 and wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"


async def test_a_paused_workflow_has_no_next_run(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"].headers
    doc = workflow_doc(schedule="0 6 * * *", timezone="Europe/Paris", paused=True)
    created = (await client.post("/api/v1/workflows", json=doc, headers=editor)).json()
    assert created["next_fire_times"] == []
    listed = (await client.get("/api/v1/workflows", headers=editor)).json()["items"]
    assert [w["next_fire_time"] for w in listed] == [None]

    resumed = await client.patch(
        f"/api/v1/workflows/{created['id']}", json={"paused": False}, headers=editor
    )
    assert len(resumed.json()["next_fire_times"]) == 3
    listed = (await client.get("/api/v1/workflows", headers=editor)).json()["items"]
    assert listed[0]["next_fire_time"] == resumed.json()["next_fire_times"][0]


async def test_export_is_the_yaml_that_plait_export_writes(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    doc = workflow_doc(tasks=[{"key": "x", "kind": "python", "code": "a = 1\nprint(a)\n"}])
    await client.post("/api/v1/workflows", json=doc, headers=accounts["editor"].headers)
    viewer = accounts["viewer"].headers
    response = await client.get("/api/v1/workflows/train/export", headers=viewer)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    document = (await client.get("/api/v1/workflows/train", headers=viewer)).json()
    assert response.text == to_yaml(document)  # the CLI's function, on the API's document
    assert "code: |\n    a = 1\n    print(a)\n" in response.text
    missing = await client.get("/api/v1/workflows/nope/export", headers=viewer)
    assert missing.status_code == 404
    assert (await client.get("/api/v1/workflows/train/export")).status_code == 401


async def test_a_draft_renders_as_the_yaml_it_would_export(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"].headers
    draft = workflow_doc()
    rendered = await client.post("/api/v1/workflow-yaml", json=draft, headers=editor)
    assert rendered.status_code == 200
    assert rendered.headers["content-type"].startswith("application/yaml")
    await client.post("/api/v1/workflows", json=draft, headers=editor)
    exported = await client.get("/api/v1/workflows/train/export", headers=editor)
    assert rendered.text == exported.text
    bad = workflow_doc(tasks=[{"key": "a", "kind": "shell", "command": "x", "depends_on": ["a"]}])
    refused = await client.post("/api/v1/workflow-yaml", json=bad, headers=editor)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


async def test_each_version_exports_as_plait_export_wrote_it(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"].headers
    await client.post("/api/v1/workflows", json=workflow_doc(), headers=editor)
    first = (await client.get("/api/v1/workflows/train/export", headers=editor)).text
    await client.patch("/api/v1/workflows/train", json={"description": "v2"}, headers=editor)
    v1 = await client.get("/api/v1/workflows/train/versions/1/export", headers=editor)
    v2 = await client.get("/api/v1/workflows/train/versions/2/export", headers=editor)
    assert v1.text == first
    assert v2.text == (await client.get("/api/v1/workflows/train/export", headers=editor)).text
    assert "description: v2\n" in v2.text
    missing = await client.get("/api/v1/workflows/train/versions/3/export", headers=editor)
    assert missing.status_code == 404
