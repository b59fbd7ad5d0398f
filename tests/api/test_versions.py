"""Every change makes an immutable version; no-ops make none; stale writes get 412."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.test_workflows import Accounts
from tests.conftest import workflow_doc
from tests.support.workflows import create_workflow


async def put(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    doc: dict[str, Any],
    if_match: str | None = None,
) -> httpx.Response:
    extra = {"If-Match": if_match} if if_match is not None else {}
    return await client.put(
        f"/api/v1/workflows/{doc['name']}", json=doc, headers={**headers, **extra}
    )


async def test_a_no_op_save_makes_no_version(client: httpx.AsyncClient, accounts: Accounts) -> None:
    h = accounts["editor"].headers
    await create_workflow(client, accounts["editor"])
    same = await put(client, h, workflow_doc(tags=["ml", "ml"]), if_match='"1"')
    assert same.status_code == 200 and same.json()["current_version"] == 1
    versions = (await client.get("/api/v1/workflows/train/versions", headers=h)).json()
    assert [v["version"] for v in versions["items"]] == [1]


async def test_changes_make_versions_and_stale_if_match_gets_412(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["editor"].headers
    await create_workflow(client, accounts["editor"])
    changed = await put(client, h, workflow_doc(description="v2"), if_match='"1"')
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'
    stale = await put(client, h, workflow_doc(description="lost update"), if_match="1")
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    assert stale.json()["type"] == "urn:plait:problem:precondition-failed"
    stale_patch = await client.patch(
        "/api/v1/workflows/train", json={"description": "x"}, headers={**h, "If-Match": 'W/"1"'}
    )
    assert stale_patch.status_code == 412
    current = (await client.get("/api/v1/workflows/train", headers=h)).json()
    assert current["description"] == "v2"


async def test_patch_changes_only_what_it_names(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["editor"].headers
    await create_workflow(client, accounts["editor"], schedule="@daily")
    patched = await client.patch(
        "/api/v1/workflows/train", json={"description": "patched"}, headers=h
    )
    body = patched.json()
    assert body["description"] == "patched" and body["schedule"] == "@daily"
    assert body["current_version"] == 2 and len(body["tasks"]) == 2
    paused = await client.patch("/api/v1/workflows/train", json={"paused": True}, headers=h)
    assert paused.json()["paused"] is True
    assert paused.json()["current_version"] == 2  # pausing is state, not definition
    cleared = await client.patch("/api/v1/workflows/train", json={"schedule": None}, headers=h)
    assert cleared.json()["schedule"] is None and cleared.json()["next_fire_times"] == []


async def test_diff_and_restore(client: httpx.AsyncClient, accounts: Accounts) -> None:
    h = accounts["editor"].headers
    await create_workflow(client, accounts["editor"])
    doc = workflow_doc(description="second")
    doc["tasks"][1]["command"] = "echo fit harder"
    doc["tasks"].append(
        {"key": "report", "kind": "shell", "command": "echo", "depends_on": ["fit"]}
    )
    del doc["tasks"][0]["code"]
    doc["tasks"][0].update(kind="callable", callable="mypkg.data:load")
    await put(client, h, doc)

    diff = (await client.get("/api/v1/workflows/train/versions/1/diff/2", headers=h)).json()
    assert diff["fields"] == {"description": {"from": "train a model", "to": "second"}}
    assert diff["tasks"]["added"] == ["report"] and diff["tasks"]["removed"] == []
    assert diff["tasks"]["changed"]["fit"] == {
        "command": {"from": "echo fit", "to": "echo fit harder"}
    }
    assert set(diff["tasks"]["changed"]["load"]) == {"kind", "code", "callable"}

    restored = await client.post("/api/v1/workflows/train/versions/1/restore", headers=h)
    assert restored.status_code == 200
    assert restored.json()["current_version"] == 3
    assert restored.json()["description"] == "train a model"
    v1 = (await client.get("/api/v1/workflows/train/versions/1", headers=h)).json()
    v3 = (await client.get("/api/v1/workflows/train/versions/3", headers=h)).json()
    assert v3["content_hash"] == v1["content_hash"] and v3["spec"] == v1["spec"]
    assert v3["message"] == "restored from version 1"
    history = (await client.get("/api/v1/workflows/train/versions", headers=h)).json()
    assert [v["version"] for v in history["items"]] == [3, 2, 1]  # nothing rewritten
    again = await client.post("/api/v1/workflows/train/versions/3/restore", headers=h)
    assert again.json()["current_version"] == 3  # restoring the current one is a no-op
    missing = await client.get("/api/v1/workflows/train/versions/9", headers=h)
    assert missing.status_code == 404


async def test_version_history_pages(client: httpx.AsyncClient, accounts: Accounts) -> None:
    h = accounts["editor"].headers
    await create_workflow(client, accounts["editor"])
    for i in range(4):
        await put(client, h, workflow_doc(description=f"d{i}"))
    first = (await client.get("/api/v1/workflows/train/versions?limit=2", headers=h)).json()
    assert [v["version"] for v in first["items"]] == [5, 4]
    second = (
        await client.get(
            f"/api/v1/workflows/train/versions?limit=2&before={first['next_cursor']}", headers=h
        )
    ).json()
    assert [v["version"] for v in second["items"]] == [3, 2]


async def test_clone_copies_the_current_version(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    original = await create_workflow(client, accounts["editor"], schedule="@hourly")
    response = await client.post(
        "/api/v1/workflows/train/clone",
        json={"name": "train-copy"},
        headers=accounts["other_editor"].headers,
    )
    assert response.status_code == 201
    copy = response.json()
    assert copy["paused"] is True and copy["owner"] == "ed2"
    assert copy["tasks"] == original["tasks"] and copy["params"] == original["params"]
    assert copy["schedule"] == "@hourly" and copy["tags"] == ["ml"]
    history = (
        await client.get(
            "/api/v1/workflows/train-copy/versions", headers=accounts["viewer"].headers
        )
    ).json()
    assert history["items"][0]["source"] == {
        "workflow_id": original["id"],
        "name": "train",
        "version": 1,
    }
    taken = await client.post(
        "/api/v1/workflows/train/clone",
        json={"name": "train-copy"},
        headers=accounts["editor"].headers,
    )
    assert taken.status_code == 409


async def test_tasks_as_a_sub_resource(client: httpx.AsyncClient, accounts: Accounts) -> None:
    h = accounts["editor"].headers
    await create_workflow(client, accounts["editor"])
    base = "/api/v1/workflows/train/tasks"
    listed = (await client.get(base, headers=h)).json()
    assert [t["key"] for t in listed["items"]] == ["load", "fit"]
    added = await client.post(
        base,
        json={"key": "eval", "kind": "shell", "command": "echo", "depends_on": ["fit"]},
        headers={**h, "If-Match": "1"},
    )
    assert added.status_code == 201 and added.headers["etag"] == '"2"'
    dup = await client.post(base, json={"key": "eval", "kind": "shell", "command": "x"}, headers=h)
    assert dup.status_code == 409
    replaced = await client.put(
        f"{base}/eval",
        json={"key": "eval", "kind": "shell", "command": "echo 2", "retries": 3},
        headers=h,
    )
    assert replaced.status_code == 200
    got = (await client.get(f"{base}/eval", headers=h)).json()
    assert got["retries"] == 3 and got["command"] == "echo 2"
    needed = await client.delete(f"{base}/load", headers=h)
    assert needed.status_code == 422  # fit depends on it
    assert "unknown task 'load'" in needed.json()["errors"][0]["message"]
    removed = await client.delete(f"{base}/eval", headers=h)
    assert removed.status_code == 204
    assert (await client.get(f"{base}/eval", headers=h)).status_code == 404
    wf = (await client.get("/api/v1/workflows/train", headers=h)).json()
    assert wf["current_version"] == 4
