"""Listing workflows: filters, sorts, offset pages, and keyset pages under concurrent inserts."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plait.api import workflows as api_workflows
from plait.auth.roles import Principal, Role
from plait.orchestration import runs
from plait.orchestration.states import RunStatus
from plait.workflows import store
from plait.workflows.spec import WorkflowSpec
from tests.api.test_workflows import Accounts
from tests.conftest import workflow_doc


async def seed(app: FastAPI, names: list[str], owner: int, **doc: Any) -> None:
    who = Principal(owner, "seed", Role.admin)
    async with app.state.plait.db.write() as session:
        for name in names:
            await store.create(session, who, WorkflowSpec.model_validate(workflow_doc(name, **doc)))


async def all_pages(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, during: Any = None
) -> list[str]:
    names: list[str] = []
    cursor = None
    while True:
        url = f"/api/v1/workflows?{query}" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=headers)).json()
        names += [item["name"] for item in page["items"]]
        if during is not None:
            await during()
        cursor = page["next_cursor"]
        if cursor is None:
            return names


async def test_keyset_pages_stay_correct_while_rows_are_inserted(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    before = [f"wf-{i:03d}" for i in range(0, 120, 2)]  # even numbers exist from the start
    await seed(app, before, accounts["admin"].id)
    inserted = iter(range(1, 120, 2))

    async def insert_some() -> None:  # odd numbers arrive between pages, all over the order
        await seed(app, [f"wf-{next(inserted):03d}" for _ in range(5)], accounts["admin"].id)

    for sort in ("name", "-name", "created", "-updated"):
        seen = await all_pages(
            client,
            accounts["viewer"].headers,
            f"limit=7&sort={sort}",
            insert_some if sort == "name" else None,
        )
        assert len(seen) == len(set(seen)), f"a row was returned twice with sort={sort}"
        assert set(before) <= set(seen), f"a row that existed was skipped with sort={sort}"
        expected = sorted(seen, reverse=sort.startswith("-")) if "name" in sort else None
        if expected:
            assert seen == expected


async def test_filters(app: FastAPI, client: httpx.AsyncClient, accounts: Accounts) -> None:
    await seed(app, ["alpha", "beta"], accounts["editor"].id, tags=["nlp", "prod"])
    await seed(
        app, ["gamma"], accounts["other_editor"].id, tags=["cv"], description="50% of images"
    )
    h = accounts["viewer"].headers
    await client.patch(
        "/api/v1/workflows/beta", json={"paused": True}, headers=accounts["admin"].headers
    )

    async def names(query: str) -> list[str]:
        page = (await client.get(f"/api/v1/workflows?{query}", headers=h)).json()
        return [w["name"] for w in page["items"]]

    assert await names("tag=nlp") == ["alpha", "beta"]
    assert await names("tag=nlp&tag=prod&paused=false") == ["alpha"]
    assert await names("tag=missing") == []
    assert await names("q=AMM") == ["gamma"]
    assert await names("q=50%25") == ["gamma"]  # % is searched for, not a wildcard
    assert await names("q=%25") == ["gamma"]
    assert await names("owner=ed") == ["alpha", "beta"]
    assert await names(f"owner={accounts['other_editor'].id}") == ["gamma"]
    assert await names("sort=-name") == ["gamma", "beta", "alpha"]


async def test_offset_pages_give_a_total(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    await seed(app, [f"w{i}" for i in range(12)], accounts["admin"].id)
    page = (
        await client.get("/api/v1/workflows?limit=5&offset=10", headers=accounts["viewer"].headers)
    ).json()
    assert page["total"] == 12 and len(page["items"]) == 2
    both = await client.get(
        f"/api/v1/workflows?offset=1&cursor={'x' * 10}", headers=accounts["viewer"].headers
    )
    assert both.status_code == 422


async def test_a_cursor_from_another_sort_is_refused(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    await seed(app, ["a1", "a2", "a3"], accounts["admin"].id)
    h = accounts["viewer"].headers
    page = (await client.get("/api/v1/workflows?limit=1&sort=name", headers=h)).json()
    other = await client.get(
        f"/api/v1/workflows?sort=created&cursor={page['next_cursor']}", headers=h
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "cursor"


async def test_concurrent_creates_of_one_name_give_one_workflow_and_conflicts(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    posts = [
        client.post(
            "/api/v1/workflows", json=workflow_doc("race"), headers=accounts["editor"].headers
        )
        for _ in range(5)
    ]
    codes = sorted(r.status_code for r in await asyncio.gather(*posts))
    assert codes == [201, 409, 409, 409, 409]


async def test_each_row_carries_its_latest_runs_newest_first(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    await seed(app, ["busy", "idle"], accounts["admin"].id)
    who = Principal(accounts["admin"].id, "seed", Role.admin)
    async with app.state.plait.db.write() as session:
        busy = await store.get(session, "busy")
        made = [await runs.create_run(session, busy, params={}, trigger="manual", who=who)
                for _ in range(7)]  # fmt: skip
        made[-1].status = RunStatus.failed
    ids = [r.id for r in made]

    page = (await client.get("/api/v1/workflows", headers=accounts["viewer"].headers)).json()
    marks = {item["name"]: item["last_runs"] for item in page["items"]}
    assert [m["id"] for m in marks["busy"]] == ids[::-1][:5]
    assert marks["busy"][0]["status"] == "failed"
    assert marks["idle"] == []


async def test_latest_runs_of_workflows_asked_for_in_several_statements(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_workflows, "UNION_TERMS", 2)  # 3 workflows: two statements
    await seed(app, ["a1", "a2", "a3"], accounts["admin"].id)
    who = Principal(accounts["admin"].id, "seed", Role.admin)
    made: dict[str, list[int]] = {}
    async with app.state.plait.db.write() as session:
        for name in ("a3", "a1", "a2", "a3", "a1", "a3"):  # interleaved ids
            wf = await store.get(session, name)
            run = await runs.create_run(session, wf, params={}, trigger="manual", who=who)
            made.setdefault(name, []).append(run.id)

    page = (await client.get("/api/v1/workflows", headers=accounts["viewer"].headers)).json()
    marks = {item["name"]: [m["id"] for m in item["last_runs"]] for item in page["items"]}
    assert marks == {name: ids[::-1] for name, ids in made.items()}
