"""Failed logins are limited per username and per client address (429 + Retry-After), and
nobody else's failures block a login."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from fastapi import FastAPI

from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, Account

Connect = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]
PER_USER = 10  # the defaults of login_failures_per_user and login_failures_per_address
PER_ADDRESS = 50


def from_address(app: FastAPI) -> Connect:
    @asynccontextmanager
    async def connect(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as c:
            yield c

    return connect


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    body = {"username": username, "password": password}
    return await client.post("/api/v1/auth/login", json=body)


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:plait:problem:too-many-requests"
    assert 0 < int(response.headers["retry-after"]) <= 300


async def test_failures_for_one_username_block_it_and_nobody_else(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    connect = from_address(app)
    async with connect("10.0.0.1") as guesser, connect("10.0.0.2") as owner:
        for i in range(PER_USER):
            assert (await login(guesser, "admin", f"guess-{i}")).status_code == 401
        assert_limited(await login(guesser, "admin", "one-more-guess"))
        # Even the right password, from elsewhere: a guesser must not learn it was right.
        assert_limited(await login(owner, "admin", ADMIN_PASSWORD))
        # Another user logs in, from the guesser's address too.
        assert (await login(owner, "ed", USER_PASSWORD)).status_code == 200
        assert (await login(guesser, "vi", USER_PASSWORD)).status_code == 200


async def test_failures_from_one_address_block_it_and_no_other(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    connect = from_address(app)
    async with connect("10.0.1.1") as guesser, connect("10.0.1.2") as other:
        for i in range(PER_ADDRESS):  # a few per username, so no username reaches its limit
            response = await login(guesser, f"user{i % 10}", "wrong-password")
            assert response.status_code == 401
        assert_limited(await login(guesser, "ed", USER_PASSWORD))
        assert (await login(other, "ed", USER_PASSWORD)).status_code == 200


async def test_guesses_sent_at_once_do_not_all_get_through(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    async with from_address(app)("10.0.2.1") as guesser:
        answers = await asyncio.gather(*(login(guesser, "ed2", f"g{i}") for i in range(40)))
    counts = Counter(r.status_code for r in answers)
    assert counts == {401: PER_USER, 429: 40 - PER_USER}
