"""Logging in, refresh rotation, logout, API tokens, accounts and the audit trail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.models import ApiToken, RefreshToken, User
from tests.api.test_workflows import Accounts
from tests.conftest import ADMIN_PASSWORD, SECRET, USER_PASSWORD
from tests.support.workflows import create_workflow


async def login(
    client: httpx.AsyncClient, username: str = "admin", password: str = ADMIN_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_with_json_and_with_an_oauth2_form(client: httpx.AsyncClient) -> None:
    as_json = await login(client)
    as_form = await client.post(
        "/api/v1/auth/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "grant_type": "password"},
    )
    for response in (as_json, as_form):
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer" and body["user"]["role"] == "admin"
        me = await client.get("/api/v1/users/me", headers=bearer(body["access_token"]))
        assert me.json()["username"] == "admin"
        claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
        assert claims["exp"] - claims["iat"] == 15 * 60  # short-lived


@pytest.mark.parametrize(("username", "password"), [("admin", "wrong"), ("ghost", "whatever")])
async def test_bad_credentials_are_401_without_saying_which(
    client: httpx.AsyncClient, username: str, password: str
) -> None:
    response = await login(client, username, password)
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong username or password"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_missing_or_bad_tokens_are_401(client: httpx.AsyncClient) -> None:
    expired = jwt.encode(
        {"sub": "1", "typ": "access", "exp": datetime.now(UTC) - timedelta(seconds=5)},
        SECRET,
        algorithm="HS256",
    )
    forged = jwt.encode(
        {"sub": "1", "typ": "access", "exp": datetime.now(UTC) + timedelta(hours=1)},
        "not-the-key-" * 4,
        algorithm="HS256",
    )
    for headers in (
        {},
        bearer("garbage"),
        bearer(expired),
        bearer(forged),
        {"Authorization": "Basic x"},
        bearer("plait_deadbeef_nothing"),
    ):
        response = await client.get("/api/v1/workflows", headers=headers)
        assert response.status_code == 401, headers
    detail = (await client.get("/api/v1/workflows", headers=bearer(expired))).json()["detail"]
    assert "expired" in detail


async def test_refresh_rotates_and_a_reused_token_revokes_the_login(
    client: httpx.AsyncClient,
) -> None:
    first = (await login(client)).json()
    second = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    rotated = second.json()["refresh_token"]
    assert rotated != first["refresh_token"]
    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401 and "reused" in replay.json()["detail"]
    # The replay revoked the whole family, so the thief's copy and the owner's are both dead.
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated})
    assert after.status_code == 401


async def test_concurrent_refreshes_with_one_token_succeed_once(client: httpx.AsyncClient) -> None:
    token = (await login(client)).json()["refresh_token"]
    results = await asyncio.gather(
        *[client.post("/api/v1/auth/refresh", json={"refresh_token": token}) for _ in range(4)]
    )
    assert sorted(r.status_code for r in results) == [200, 401, 401, 401]


async def test_refresh_tokens_are_stored_hashed(app: FastAPI, client: httpx.AsyncClient) -> None:
    raw = (await login(client)).json()["refresh_token"]
    async with app.state.plait.db.read() as session:
        stored = list((await session.execute(select(RefreshToken.token_hash))).scalars())
    assert stored and raw not in stored and all(len(h) == 64 for h in stored)


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    pair = (await login(client)).json()
    other = (await login(client)).json()
    out = await client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": pair["refresh_token"]},
        headers=bearer(pair["access_token"]),
    )
    assert out.status_code == 204
    dead = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    alive = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert dead.status_code == 401 and alive.status_code == 200
    everywhere = await client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
    assert everywhere.status_code == 204
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": alive.json()["refresh_token"]}
    )
    assert again.status_code == 401


async def test_api_tokens(app: FastAPI, client: httpx.AsyncClient, accounts: Accounts) -> None:
    h = accounts["viewer"].headers
    created = await client.post("/api/v1/tokens", json={"name": "ci"}, headers=h)
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("plait_")
    listed = (await client.get("/api/v1/tokens", headers=h)).json()
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    assert (await client.get("/api/v1/workflows", headers=bearer(secret))).status_code == 200
    # the token acts with its owner's role: a viewer's token cannot create workflows
    denied = await client.post("/api/v1/workflows", json={"name": "x"}, headers=bearer(secret))
    assert denied.status_code == 403
    async with app.state.plait.db.read() as session:
        row = (await session.execute(select(ApiToken))).scalar_one()
    assert row.token_hash != secret and secret not in str(row.__dict__)
    assert row.last_used_at is not None
    others = await client.delete(f"/api/v1/tokens/{row.id}", headers=accounts["editor"].headers)
    assert others.status_code == 404
    revoked = await client.delete(f"/api/v1/tokens/{row.id}", headers=h)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/workflows", headers=bearer(secret))).status_code == 401


async def test_expired_api_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    created = await client.post(
        "/api/v1/tokens",
        json={"name": "short", "expires_in_days": 1},
        headers=accounts["editor"].headers,
    )
    async with app.state.plait.db.write() as session:
        token = await session.get(ApiToken, created.json()["id"])
        assert token is not None
        token.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    response = await client.get("/api/v1/workflows", headers=bearer(created.json()["token"]))
    assert response.status_code == 401 and "expired" in response.json()["detail"]


async def test_users_crud_by_admins(client: httpx.AsyncClient, accounts: Accounts) -> None:
    h = accounts["admin"].headers
    made = await client.post(
        "/api/v1/users",
        json={
            "username": "newbie",
            "password": "long-enough-1",
            "role": "editor",
            "email": "n@example.org",
        },
        headers=h,
    )
    assert made.status_code == 201 and "password" not in made.text
    user_id = made.json()["id"]
    assert (
        await client.post(
            "/api/v1/users", json={"username": "newbie", "password": "long-enough-1"}, headers=h
        )
    ).status_code == 409
    short = await client.post(
        "/api/v1/users", json={"username": "x", "password": "short"}, headers=h
    )
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "password"
    assert (await login(client, "newbie", "long-enough-1")).status_code == 200
    demoted = await client.patch(f"/api/v1/users/{user_id}", json={"role": "viewer"}, headers=h)
    assert demoted.json()["role"] == "viewer"
    disabled = await client.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=h)
    assert disabled.json()["is_active"] is False
    assert (await login(client, "newbie", "long-enough-1")).status_code == 401
    listed = (await client.get("/api/v1/users", headers=h)).json()
    assert "newbie" in [u["username"] for u in listed["items"]]
    assert (await client.delete(f"/api/v1/users/{user_id}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/users/{user_id}", headers=h)).status_code == 404


async def test_the_last_admin_cannot_be_removed(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = accounts["admin"]
    for attempt in (
        client.patch(f"/api/v1/users/{admin.id}", json={"role": "editor"}, headers=admin.headers),
        client.patch(f"/api/v1/users/{admin.id}", json={"is_active": False}, headers=admin.headers),
        client.delete(f"/api/v1/users/{admin.id}", headers=admin.headers),
    ):
        assert (await attempt).status_code == 409


async def test_deleting_a_user_keeps_their_workflows(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:

    await create_workflow(client, accounts["editor"])
    gone = await client.delete(
        f"/api/v1/users/{accounts['editor'].id}", headers=accounts["admin"].headers
    )
    assert gone.status_code == 204
    wf = (await client.get("/api/v1/workflows/train", headers=accounts["admin"].headers)).json()
    assert wf["owner"] is None
    # and the deleted user's access token stops working at once
    assert (
        await client.get("/api/v1/users/me", headers=accounts["editor"].headers)
    ).status_code == 401


async def test_password_change(app: FastAPI, client: httpx.AsyncClient, accounts: Accounts) -> None:
    h = accounts["viewer"].headers
    wrong = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": "nope", "new_password": "brand-new-pw"},
        headers=h,
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    ok = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": USER_PASSWORD, "new_password": "brand-new-pw"},
        headers=h,
    )
    assert ok.status_code == 204
    assert (await login(client, "vi", USER_PASSWORD)).status_code == 401
    assert (await login(client, "vi", "brand-new-pw")).status_code == 200
    async with app.state.plait.db.read() as session:
        user = (await session.execute(select(User).where(User.username == "vi"))).scalar_one()
    assert user.password_hash.startswith("$argon2id$")


async def test_mutations_are_audited_and_filterable(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:

    wf = await create_workflow(client, accounts["editor"])
    await client.patch(
        "/api/v1/workflows/train", json={"description": "new"}, headers=accounts["editor"].headers
    )
    await client.post("/api/v1/tokens", json={"name": "t"}, headers=accounts["viewer"].headers)
    h = accounts["admin"].headers
    events = (await client.get("/api/v1/audit?action=workflow.", headers=h)).json()["items"]
    assert [e["action"] for e in events] == ["workflow.update", "workflow.create"]
    update = events[0]
    assert update["actor"] == "ed" and update["target_id"] == str(wf["id"])
    assert update["summary"]["fields"] == ["description"] and update["summary"]["version"] == 2
    by_viewer = (await client.get("/api/v1/audit?actor=vi", headers=h)).json()["items"]
    assert [e["action"] for e in by_viewer] == ["token.create"]
    assert "plait_" not in str(by_viewer)  # secrets never reach the audit trail
    later = (await client.get("/api/v1/audit?since=2999-01-01T00:00:00Z", headers=h)).json()
    assert later["items"] == []
    page = (await client.get("/api/v1/audit?limit=1", headers=h)).json()
    rest = (
        await client.get(f"/api/v1/audit?limit=50&before_id={page['next_cursor']}", headers=h)
    ).json()
    assert len(rest["items"]) >= 2 and page["items"][0]["id"] > rest["items"][0]["id"]
