"""Channels, rules and deliveries over HTTP: CRUD, ownership, validation, write-only secrets."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from plait.db.engine import Database
from plait.db.models import AuditEvent, Delivery
from tests.conftest import Account
from tests.notifications.conftest import api, channel, rule
from tests.support.workflows import create_workflow

Accounts = dict[str, Account]
HOOK = "https://hooks.slack.com/services/T0001/B0001/topsecretpath"
SLACK = {"name": "ml-alerts", "kind": "slack", "config": {"mode": "webhook"}, "secret": HOOK}


def assert_no_secret(body: Any) -> None:
    text = str(body)
    assert "secret" not in (body if isinstance(body, dict) else {})
    assert "topsecretpath" not in text and "signing-key" not in text


async def test_secrets_are_write_only(
    client: httpx.AsyncClient, accounts: Accounts, db: Database
) -> None:
    editor, viewer = accounts["editor"], accounts["viewer"]
    created = await channel(client, editor, **SLACK)
    assert created["has_secret"] is True and created["config"] == {"mode": "webhook"}
    assert_no_secret(created)
    for body in (
        await api(client, viewer, "GET", f"/channels/{created['id']}"),
        await api(client, viewer, "GET", "/channels"),
        await api(client, editor, "PATCH", f"/channels/{created['id']}", {"enabled": False}),
    ):
        assert_no_secret(body)
    async with db.read() as session:
        audit = list((await session.execute(select(AuditEvent.summary))).scalars())
    assert "topsecretpath" not in str(audit)


async def test_patch_keeps_replaces_or_refuses_to_drop_the_secret(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    doc = {
        "name": "hook",
        "kind": "webhook",
        "config": {"url": "https://ci.example/hook"},
        "secret": "signing-key-0123456789",
    }
    ch = await channel(client, editor, **doc)
    path = f"/api/v1/channels/{ch['id']}"
    kept = await client.patch(
        path, json={"config": {"url": "https://ci.example/other"}}, headers=editor.headers
    )
    assert kept.status_code == 200 and kept.json()["has_secret"] is True
    dropped = await client.patch(path, json={"secret": None}, headers=editor.headers)
    assert dropped.status_code == 422
    assert dropped.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in dropped.json()["errors"]] == ["secret"]
    renamed = await client.patch(
        path, json={"name": "hook2", "secret": "another-key-123456789"}, headers=editor.headers
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "hook2"


async def test_config_errors_are_problem_json_per_field(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    bad = {
        "name": "mail",
        "kind": "email",
        "config": {"host": "smtp.example.com", "security": "tls", "to": []},
    }
    response = await client.post("/api/v1/channels", json=bad, headers=accounts["editor"].headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    found = {e["field"] for e in response.json()["errors"]}
    assert found == {"config.security", "config.sender", "config.to"}
    unknown = {**SLACK, "kind": "pager"}
    response = await client.post(
        "/api/v1/channels", json=unknown, headers=accounts["editor"].headers
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "kind"


async def test_names_are_unique(client: httpx.AsyncClient, accounts: Accounts) -> None:
    await channel(client, accounts["editor"], **SLACK)
    again = await client.post("/api/v1/channels", json=SLACK, headers=accounts["admin"].headers)
    assert again.status_code == 409


async def test_editors_change_their_own_admins_all_viewers_read(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    mine = await channel(client, accounts["editor"], **SLACK)
    path = f"/api/v1/channels/{mine['id']}"
    other = await client.patch(
        path, json={"enabled": False}, headers=accounts["other_editor"].headers
    )
    assert other.status_code == 403
    viewer = await client.post("/api/v1/channels", json=SLACK, headers=accounts["viewer"].headers)
    assert viewer.status_code == 403
    admin = await client.patch(path, json={"enabled": False}, headers=accounts["admin"].headers)
    assert admin.status_code == 200 and admin.json()["enabled"] is False
    assert (await client.delete(path, headers=accounts["other_editor"].headers)).status_code == 403
    assert (await client.delete(path, headers=accounts["editor"].headers)).status_code == 204
    assert (await client.get(path, headers=accounts["viewer"].headers)).status_code == 404


async def test_rules_scope_by_workflow_name_or_tag_and_validate(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    wf = await create_workflow(client, editor)  # "train", tagged ml
    ch = await channel(client, editor, **SLACK)
    by_name = await rule(
        client,
        editor,
        ch["id"],
        ["run.failed", "run.failed", "task.retrying"],
        scope="workflow",
        scope_value="train",
    )
    assert by_name["scope_value"] == str(wf["id"])  # kept by id: names change
    assert by_name["events"] == ["run.failed", "task.retrying"]
    tagged = await rule(client, editor, ch["id"], ["run.succeeded"], scope="tag", scope_value="ml")
    listed = await api(client, accounts["viewer"], "GET", f"/rules?channel_id={ch['id']}")
    assert [r["id"] for r in listed] == [by_name["id"], tagged["id"]]

    async def refused(body: dict[str, Any]) -> set[str]:
        response = await client.post("/api/v1/rules", json=body, headers=editor.headers)
        assert response.status_code == 422, response.text
        return {e["field"] for e in response.json()["errors"]}

    base = {"name": "x", "channel_id": ch["id"], "events": ["run.failed"]}
    assert await refused({**base, "scope": "workflow", "scope_value": "nope"}) == {"scope_value"}
    assert await refused({**base, "scope": "tag"}) == {"scope_value"}
    assert await refused({**base, "scope_value": "train"}) == {"scope_value"}
    assert await refused({**base, "channel_id": 999}) == {"channel_id"}
    assert await refused({**base, "events": ["run.started"]}) == {"events[0]"}
    assert await refused({**base, "events": []}) == {"events"}

    path = f"/api/v1/rules/{tagged['id']}"
    other = await client.patch(
        path, json={"enabled": False}, headers=accounts["other_editor"].headers
    )
    assert other.status_code == 403
    moved = await api(client, editor, "PATCH", f"/rules/{tagged['id']}", {"scope": "all"})
    assert moved["scope"] == "all" and moved["scope_value"] is None
    assert (await client.delete(path, headers=accounts["admin"].headers)).status_code == 204
    assert (await client.get(path, headers=editor.headers)).status_code == 404


async def test_deleting_a_channel_removes_its_rules(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    editor = accounts["editor"]
    ch = await channel(client, editor, **SLACK)
    r = await rule(client, editor, ch["id"], ["run.failed"])
    await api(client, editor, "DELETE", f"/channels/{ch['id']}")
    assert (await client.get(f"/api/v1/rules/{r['id']}", headers=editor.headers)).status_code == 404


async def test_deliveries_list_newest_first_with_filters_and_cursor(
    client: httpx.AsyncClient, accounts: Accounts, db: Database
) -> None:
    ch = await channel(client, accounts["editor"], **SLACK)
    async with db.write() as session:
        for i in range(5):
            session.add(
                Delivery(
                    channel_id=ch["id"],
                    event_type="run.failed",
                    run_id=i % 2 + 1,
                    dedupe=str(i),
                    payload={"i": i},
                    status="sent" if i < 3 else "failed",
                )
            )
    viewer = accounts["viewer"]
    page = await api(client, viewer, "GET", "/deliveries?limit=2")
    assert [d["payload"]["i"] for d in page["items"]] == [4, 3]
    rest = await api(client, viewer, "GET", f"/deliveries?limit=10&cursor={page['next_cursor']}")
    assert [d["payload"]["i"] for d in rest["items"]] == [2, 1, 0] and rest["next_cursor"] is None
    failed = await api(client, viewer, "GET", "/deliveries?status=failed&run_id=2")
    assert [d["payload"]["i"] for d in failed["items"]] == [3]
    other = await api(client, viewer, "GET", f"/deliveries?channel_id={ch['id'] + 1}")
    assert other["items"] == []
