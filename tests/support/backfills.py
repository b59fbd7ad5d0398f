"""Scheduled workflows and their backfills through the API, for the backfill tests."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import Account


async def scheduled(
    client: httpx.AsyncClient, who: Account, name: str, schedule: str, code: str = "pass",
    **extra: Any,
) -> None:  # fmt: skip
    doc = {"name": name, "schedule": schedule, "timezone": "Europe/Berlin",
           "tasks": [{"key": "t", "kind": "python", "code": code}], **extra}  # fmt: skip
    made = await client.post("/api/v1/workflows", json=doc, headers=who.headers)
    assert made.status_code == 201, made.text


async def backfill(
    client: httpx.AsyncClient, who: Account, name: str, start: str, end: str, **extra: Any
) -> httpx.Response:
    body = {"start": start, "end": end, **extra}
    return await client.post(f"/api/v1/workflows/{name}/backfills", json=body, headers=who.headers)


async def until_ended(
    client: httpx.AsyncClient, who: Account, backfill_id: int, within: float = 60
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            got = await client.get(f"/api/v1/backfills/{backfill_id}", headers=who.headers)
            body: dict[str, Any] = got.json()
            if body["status"] != "running":
                return body
            await asyncio.sleep(0.1)


def utc(*times: str) -> list[str]:
    return [f"{t}+00:00" for t in times]


def iso(values: list[str]) -> list[str]:
    return [datetime.fromisoformat(v).isoformat() for v in values]
