from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import Account


async def deploy(
    client: httpx.AsyncClient, who: Account, name: str = "iris-api", **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/deployments", json={"name": name, "model": "iris", **body}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


async def wait_for(
    client: httpx.AsyncClient,
    who: Account,
    name: str,
    status: str,
    version: int | None = None,
    seconds: float = 60.0,
) -> dict[str, Any]:
    """The deployment once its status is `status` (serving `version`, when given)."""
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = (
            await client.get(f"/api/v1/deployments/{name}", headers=who.headers)
        ).json()
        if body.get("status") == status and (version is None or body["serving_version"] == version):
            return body
        assert time.monotonic() < deadline, f"deployment stayed {body}"
        await asyncio.sleep(0.1)


async def predict(client: httpx.AsyncClient, who: Account, name: str, rows: Any) -> httpx.Response:
    return await client.post(
        f"/api/v1/deployments/{name}/predict", json={"rows": rows}, headers=who.headers
    )
