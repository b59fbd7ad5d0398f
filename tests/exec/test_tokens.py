"""Worker tokens: only admins make them, they reach the execution API and nothing else, and
nothing else reaches the execution API."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from plait.db.models import User
from tests.conftest import Account
from tests.exec.conftest import bearer, new_token

BEAT = {"worker": "host-a:1", "queues": ["default"], "concurrency": 1, "running": []}


async def test_only_admins_make_worker_tokens(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    refused = await client.post(
        "/api/v1/tokens", json={"name": "w", "worker": True}, headers=accounts["editor"].headers
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    plain = await new_token(client, accounts["editor"], "ci", worker=False)
    made = await new_token(client, accounts["admin"], "gpu-box", worker=True)
    assert (plain["worker"], made["worker"]) == (False, True)
    listed = await client.get("/api/v1/tokens", headers=accounts["admin"].headers)
    assert [(t["name"], t["worker"]) for t in listed.json()] == [("gpu-box", True)]


async def test_a_worker_token_reaches_only_the_execution_api(
    client: httpx.AsyncClient, worker: dict[str, str]
) -> None:
    for method, path in (
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/workflows"),
        ("GET", "/api/v1/workers"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/api/v1/users/me"),
    ):
        response = await client.request(method, path, headers=worker, json={"name": "x"})
        assert response.status_code == 403, (path, response.text)
        assert "execution API" in response.json()["detail"]
    beat = await client.post("/api/v1/exec/workers/heartbeat", json=BEAT, headers=worker)
    assert beat.status_code == 200, beat.text


async def test_people_cannot_call_the_execution_api(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    api_token = bearer(await new_token(client, accounts["admin"], "automation", worker=False))
    for headers in (accounts["admin"].headers, api_token, accounts["viewer"].headers):
        response = await client.post("/api/v1/exec/workers/heartbeat", json=BEAT, headers=headers)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "worker tokens only" in response.json()["detail"]
    claim = await client.post(
        "/api/v1/exec/attempts/1/claim", json={"worker": "h:1"}, headers=accounts["admin"].headers
    )
    assert claim.status_code == 403


async def test_a_worker_token_dies_with_its_admin_role_or_a_revoke(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI
) -> None:
    admin = accounts["admin"]
    token = await new_token(client, admin, "w", worker=True)
    path = "/api/v1/exec/workers/heartbeat"
    db = app.state.plait.db
    async with db.write() as session:
        await session.execute(update(User).where(User.id == admin.id).values(role="editor"))
    demoted = await client.post(path, json=BEAT, headers=bearer(token))
    assert demoted.status_code == 403
    assert "no longer an admin" in demoted.json()["detail"]
    async with db.write() as session:
        await session.execute(update(User).where(User.id == admin.id).values(role="admin"))
    assert (await client.post(path, json=BEAT, headers=bearer(token))).status_code == 200
    revoked = await client.delete(f"/api/v1/tokens/{token['id']}", headers=admin.headers)
    assert revoked.status_code == 204
    assert (await client.post(path, json=BEAT, headers=bearer(token))).status_code == 401
