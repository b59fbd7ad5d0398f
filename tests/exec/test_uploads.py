"""Log chunks and artifacts a remote worker uploads: appended exactly once whatever the
retries, and served by the public API like those of a local task."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from plait.executors.base import Dispatch
from tests.conftest import Account
from tests.exec.conftest import claim, queued_job, report, start_run
from tests.support.workflows import create_workflow

OCTETS = {"Content-Type": "application/octet-stream"}


async def _claimed(
    client: httpx.AsyncClient, editor: Account, worker: dict[str, str], app: FastAPI
) -> tuple[dict[str, object], Dispatch]:
    wf = await create_workflow(client, editor, name="uploads")
    run = await start_run(client, editor, wf)
    job = await queued_job(app, "load")
    assert (await claim(client, worker, job.attempt_id)).status_code == 200
    return run, job


async def put_log(
    client: httpx.AsyncClient, worker: dict[str, str], attempt_id: int, offset: int, data: bytes
) -> httpx.Response:
    return await client.put(
        f"/api/v1/exec/attempts/{attempt_id}/log",
        params={"offset": offset},
        content=data,
        headers={**worker, **OCTETS},
    )


async def test_log_chunks_append_once_and_a_gap_is_refused(
    client: httpx.AsyncClient, accounts: dict[str, Account], worker: dict[str, str], app: FastAPI
) -> None:
    editor = accounts["editor"]
    run, job = await _claimed(client, editor, worker, app)
    first = "héllo\n".encode()
    assert (await put_log(client, worker, job.attempt_id, 0, first)).json() == {"size": 7}
    retry = await put_log(client, worker, job.attempt_id, 0, first)  # its answer was lost
    assert retry.json() == {"size": 7}
    gap = await put_log(client, worker, job.attempt_id, 20, b"later")
    assert gap.status_code == 409
    assert gap.headers["content-type"] == "application/problem+json"
    assert (gap.json()["code"], gap.json()["size"]) == ("log-offset-mismatch", 7)
    overlap = await put_log(client, worker, job.attempt_id, 3, b"0123456789")
    assert overlap.status_code == 409
    binary = bytes(range(256))
    assert (await put_log(client, worker, job.attempt_id, 7, binary)).json() == {"size": 263}

    shown = await client.get(f"/api/v1/runs/{run['id']}/tasks/load/logs", headers=editor.headers)
    assert shown.json()["content"].startswith("héllo\n\x00\x01")
    assert shown.json()["next_offset"] == 263


async def test_log_uploads_are_bounded_and_bound_to_the_claim(
    client: httpx.AsyncClient,
    accounts: dict[str, Account],
    worker: dict[str, str],
    other_worker: dict[str, str],
    app: FastAPI,
) -> None:
    _, job = await _claimed(client, accounts["editor"], worker, app)
    big = await put_log(client, worker, job.attempt_id, 0, b"x" * ((1 << 20) + 1))
    assert big.status_code == 413
    assert (await put_log(client, worker, job.attempt_id, 0, b"x" * (1 << 20))).status_code == 200
    stranger = await put_log(client, other_worker, job.attempt_id, 1 << 20, b"mine")
    assert stranger.status_code == 403
    for offset in ("-1", "x", "1.0"):
        bad = await client.put(
            f"/api/v1/exec/attempts/{job.attempt_id}/log?offset={offset}",
            content=b"a",
            headers={**worker, **OCTETS},
        )
        assert bad.status_code == 422, offset
    user = await put_log(client, accounts["admin"].headers, job.attempt_id, 1 << 20, b"a")
    assert user.status_code == 403


async def test_an_uploaded_artifact_downloads_through_the_public_api(
    client: httpx.AsyncClient,
    accounts: dict[str, Account],
    worker: dict[str, str],
    other_worker: dict[str, str],
    app: FastAPI,
) -> None:
    editor = accounts["editor"]
    run, job = await _claimed(client, editor, worker, app)
    weights = bytes(range(256)) * 8192  # 2 MiB: over the JSON body limit, streamed instead
    path = f"/api/v1/exec/attempts/{job.attempt_id}/artifacts/model.bin"
    for _ in range(2):  # a retry replaces the file, and keeps one row
        put = await client.put(path, content=weights, headers={**worker, **OCTETS})
        assert put.status_code == 201, put.text
        assert put.json() == {"name": "model.bin", "size": len(weights)}
    listed = await client.get(f"/api/v1/runs/{run['id']}/artifacts", headers=editor.headers)
    assert [(a["name"], a["size"]) for a in listed.json()] == [("model.bin", len(weights))]
    artifact_id = listed.json()[0]["id"]
    got = await client.get(
        f"/api/v1/runs/{run['id']}/artifacts/{artifact_id}", headers=editor.headers
    )
    assert got.status_code == 200 and got.content == weights

    stranger = await client.put(path, content=b"evil", headers={**other_worker, **OCTETS})
    assert stranger.status_code == 403
    await report(client, worker, job.attempt_id, {"type": "exited", "exit_code": 0})
    late = await client.put(
        f"/api/v1/exec/attempts/{job.attempt_id}/artifacts/late.txt",
        content=b"too late",
        headers={**worker, **OCTETS},
    )
    assert late.status_code == 409 and late.json()["code"] == "attempt-not-running"
    too_long = await client.put(
        f"/api/v1/exec/attempts/{job.attempt_id}/artifacts/{'n' * 256}",
        content=b"x",
        headers={**worker, **OCTETS},
    )
    assert too_long.status_code == 422
