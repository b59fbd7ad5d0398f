"""A token is bound to its account, not to a number: the tokens of a deleted user never act
as anyone else, and a login ends when its password is set, its account disabled or its
owner logs out everywhere. And there is always an active admin, however requests race."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.models import User
from tests.conftest import Account

PASSWORD = "bob-password-1"


async def _bob(client: httpx.AsyncClient, admin: Account, role: str = "viewer") -> dict[str, Any]:
    """A user made through the API, logged in, with an API token."""
    body = {"username": "bob", "password": PASSWORD, "role": role}
    made = await client.post("/api/v1/users", json=body, headers=admin.headers)
    assert made.status_code == 201, made.text
    login = (await client.post("/api/v1/auth/login", json=body)).json()
    bearer = {"Authorization": f"Bearer {login['access_token']}"}
    api = (await client.post("/api/v1/tokens", json={"name": "ci"}, headers=bearer)).json()
    return {"id": made.json()["id"], "access": login["access_token"],
            "refresh": login["refresh_token"], "api": api["token"]}  # fmt: skip


async def _me(client: httpx.AsyncClient, secret: str) -> httpx.Response:
    return await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"})


async def test_a_deleted_users_tokens_never_act_as_the_next_user(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    admin = accounts["admin"]
    bob = await _bob(client, admin)
    gone = await client.delete(f"/api/v1/users/{bob['id']}", headers=admin.headers)
    assert gone.status_code == 204
    body = {"username": "carol", "password": "carol-password-1", "role": "admin"}
    carol = await client.post("/api/v1/users", json=body, headers=admin.headers)
    assert carol.json()["id"] != bob["id"]

    for secret in (bob["access"], bob["api"]):
        assert (await _me(client, secret)).status_code == 401
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": bob["refresh"]})
    assert refreshed.status_code == 401


@pytest.mark.parametrize(
    "change", [{"password": "set-by-admin-1"}, {"is_active": False}], ids=["password", "disable"]
)
async def test_a_login_ends_when_an_admin_sets_the_password_or_disables_the_account(
    client: httpx.AsyncClient, accounts: dict[str, Account], change: dict[str, Any]
) -> None:
    admin = accounts["admin"]
    bob = await _bob(client, admin)
    url = f"/api/v1/users/{bob['id']}"
    assert (await client.patch(url, json=change, headers=admin.headers)).is_success
    if "is_active" in change:  # enabled again: what was issued before stays ended
        assert (await client.patch(url, json={"is_active": True}, headers=admin.headers)).is_success
    assert (await _me(client, bob["access"])).status_code == 401
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": bob["refresh"]})
    assert refreshed.status_code == 401


async def test_changing_your_password_or_logging_out_everywhere_ends_your_access_tokens(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    bob = await _bob(client, accounts["admin"])
    headers = {"Authorization": f"Bearer {bob['access']}"}
    body = {"current_password": PASSWORD, "new_password": "new-password-1"}
    assert (await client.post("/api/v1/users/me/password", json=body, headers=headers)).is_success
    assert (await _me(client, bob["access"])).status_code == 401
    login = await client.post(
        "/api/v1/auth/login", json={"username": "bob", "password": "new-password-1"}
    )
    again = login.json()["access_token"]
    assert (await _me(client, again)).status_code == 200
    out = await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {again}"})
    assert out.status_code == 204
    assert (await _me(client, again)).status_code == 401
    assert (await _me(client, bob["api"])).status_code == 200  # automation goes on


async def _active_admins(app: FastAPI) -> list[int]:
    async with app.state.plait.db.read() as session:
        query = select(User.id).where(User.role == "admin", User.is_active.is_(True))
        return list((await session.execute(query)).scalars())


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_admins_demoting_each_other_at_once_leave_an_active_admin(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    admin = accounts["admin"]
    bob = await _bob(client, admin, role="admin")
    login = await client.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD})
    as_bob = {"Authorization": f"Bearer {login.json()['access_token']}"}
    demote = {"role": "editor"}
    answers = await asyncio.gather(
        client.patch(f"/api/v1/users/{bob['id']}", json=demote, headers=admin.headers),
        client.patch(f"/api/v1/users/{admin.id}", json=demote, headers=as_bob),
    )
    assert len(await _active_admins(app)) == 1
    assert sorted(a.status_code for a in answers) == [200, 409]
