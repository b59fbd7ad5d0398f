"""Rows are checked against the signature before the serving process is asked: each problem
is a 422 field error naming the row and the field, at most 20 of them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Account
from tests.serving.conftest import deploy, predict, wait_for
from tests.support.serving import add_version, rows, train

GOOD = rows(1)[0]


def row(**changes: Any) -> dict[str, Any]:
    out = {**GOOD, **changes}
    return {k: v for k, v in out.items() if v is not ...}


@pytest.fixture
async def served(app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]) -> Account:
    await add_version(app, train())
    await deploy(client, accounts["editor"], version=1, max_batch=50)
    await wait_for(client, accounts["viewer"], "iris-api", "serving")
    return accounts["viewer"]


def fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in response.json()["errors"]}


CASES = [
    ("not a list", {"a": 1}, {"rows": "expected a list of objects"}),
    ("empty", [], {"rows": "give at least one row"}),
    ("not an object", [GOOD, GOOD, GOOD, 5], {"rows[3]": "expected an object"}),
    ("missing", [GOOD, row(petal_width=...)], {"rows[1].petal_width": "missing"}),
    (
        "unknown",
        [row(colour="red")],
        {
            "rows[0].colour": "unknown column; the inputs are "
            "sepal_length, sepal_width, petal_length, petal_width"
        },
    ),
    (
        "string",
        [GOOD, GOOD, GOOD, row(petal_width="abc")],
        {"rows[3].petal_width": "expected a number, got 'abc'"},
    ),
    ("bool", [row(sepal_length=True)], {"rows[0].sepal_length": "expected a number, got True"}),
    ("null", [row(sepal_width=None)], {"rows[0].sepal_width": "expected a number, got None"}),
]


@pytest.mark.parametrize(("sent", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_each_problem_names_its_row_and_field(
    client: httpx.AsyncClient, served: Account, sent: Any, expected: dict[str, str]
) -> None:
    assert fields(await predict(client, served, "iris-api", sent)) == expected


async def test_nan_and_infinity_are_refused(client: httpx.AsyncClient, served: Account) -> None:
    # JSON has no NaN; Python's parser takes the bare words, so they must be refused here.
    body = (
        '{"rows": [{"sepal_length": NaN, "sepal_width": Infinity, '
        '"petal_length": 1, "petal_width": 1}]}'
    )
    response = await client.post(
        "/api/v1/deployments/iris-api/predict",
        content=body,
        headers={**served.headers, "content-type": "application/json"},
    )
    assert fields(response) == {
        "rows[0].sepal_length": "expected a finite number, got nan",
        "rows[0].sepal_width": "expected a finite number, got inf",
    }


async def test_more_rows_than_max_batch_are_refused_saying_the_limit(
    client: httpx.AsyncClient, served: Account, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    found = fields(await predict(client, served, "iris-api", [GOOD] * 51))
    assert found == {"rows": "at most 50 rows per request (this deployment's max_batch), got 51"}
    assert (await predict(client, served, "iris-api", [GOOD] * 50)).status_code == 200
    patched = await client.patch("/api/v1/deployments/iris-api", json={"max_batch": 60},
                                 headers=editor.headers)  # fmt: skip
    assert patched.status_code == 200 and patched.json()["max_batch"] == 60
    assert (await predict(client, served, "iris-api", [GOOD] * 51)).status_code == 200


async def test_at_most_twenty_errors_are_listed(client: httpx.AsyncClient, served: Account) -> None:
    response = await predict(client, served, "iris-api", [row(petal_width="x")] * 30)
    found = fields(response)
    assert (
        len(found) == 20 and "rows[19].petal_width" in found and "rows[20].petal_width" not in found
    )


async def test_a_body_without_rows_and_an_oversized_body(
    client: httpx.AsyncClient, served: Account
) -> None:
    assert "rows" in fields(
        await client.post(
            "/api/v1/deployments/iris-api/predict", json={"row": []}, headers=served.headers
        )
    )
    big = {"rows": [GOOD] * 20_000}
    response = await client.post(
        "/api/v1/deployments/iris-api/predict", json=big, headers=served.headers
    )
    assert response.status_code == 413


async def test_no_such_deployment_and_one_not_serving_yet(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account], served: Account
) -> None:
    missing = await predict(client, served, "nope", [GOOD])
    assert missing.status_code == 404
    # Following a stage no version is in: it waits, and says why.
    await deploy(client, accounts["editor"], "iris-prod", stage="production")
    for _ in range(100):  # the supervisor says why once it has looked
        shown = await wait_for(client, served, "iris-prod", "pending")
        if shown["error"]:
            break
        await asyncio.sleep(0.1)
    waiting = await predict(client, served, "iris-prod", [GOOD])
    assert waiting.status_code == 503
    assert waiting.json()["detail"] == (
        "deployment 'iris-prod' is not serving yet (status pending: "
        "no version of model 'iris' is in stage 'production')"
    )
    shown = (await client.get("/api/v1/deployments/iris-prod", headers=served.headers)).json()
    assert shown["error"] == "no version of model 'iris' is in stage 'production'"


async def test_create_refuses_both_or_neither_and_unknown_models(
    app: FastAPI, client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    await add_version(app, train())
    ed = accounts["editor"].headers
    for body, field in (
        ({"version": 1, "stage": "production"}, "version"),
        ({}, "version"),
        ({"version": 7}, "version"),
    ):
        response = await client.post(
            "/api/v1/deployments", json={"name": "d", "model": "iris", **body}, headers=ed
        )
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, (
            response.text
        )
    response = await client.post(
        "/api/v1/deployments", json={"name": "d", "model": "nope", "version": 1}, headers=ed
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "model"
    assert (
        await client.post(
            "/api/v1/deployments", json={"name": "d", "model": "iris", "version": 1}, headers=ed
        )
    ).status_code == 201
    again = await client.post(
        "/api/v1/deployments", json={"name": "d", "model": "iris", "version": 1}, headers=ed
    )
    assert again.status_code == 409
