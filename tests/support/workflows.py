"""Creating workflows through the API, for tests that need one to work on."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Account, workflow_doc


async def create_workflow(client: httpx.AsyncClient, who: Account, **doc: Any) -> dict[str, Any]:
    """POST a workflow (conftest's `workflow_doc` with `doc` over it); it must be created."""
    response = await client.post("/api/v1/workflows", json=workflow_doc(**doc), headers=who.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
