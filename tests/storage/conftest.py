"""Storage fixtures: a run to hang logs on, and a real S3-speaking server (moto) with a
bucket, for the fsspec artifact store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fastapi import FastAPI
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from plait.db.engine import Database
from plait.db.models import Run
from plait.settings import Settings
from tests.conftest import Account, make_user, workflow_doc

CREDENTIALS = {"key": "plait-test-key", "secret": "plait-test-secret-value"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A new, empty bucket per test."""
    name = f"plait-{abs(hash(request.node.nodeid)) % 10**8}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["key"],
        aws_secret_access_key=CREDENTIALS["secret"],
        region_name="us-east-1",
    )


def s3_options(endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint, **CREDENTIALS}


def s3_settings(settings: Settings, endpoint: str, bucket: str, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "artifact_store": f"s3://{bucket}/plait",
            "artifact_store_options": SecretStr(json.dumps(s3_options(endpoint))),
            **more,
        }
    )


async def new_run(app: FastAPI, who: Account | None = None) -> int:
    """A run (queued: these tests' servers run no scheduler) for log chunks to belong to."""
    from httpx import ASGITransport, AsyncClient

    who = who or await make_user(app, "ed", "editor")
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://plait.test") as client:
        made = await client.post("/api/v1/workflows", json=workflow_doc(), headers=who.headers)
        assert made.status_code == 201, made.text
        run = await client.post("/api/v1/workflows/train/runs", json={}, headers=who.headers)
        assert run.status_code == 201, run.text
    run_id: int = run.json()["id"]
    return run_id


async def run_exists(db: Database, run_id: int) -> bool:
    async with db.read() as session:
        return await session.get(Run, run_id) is not None
