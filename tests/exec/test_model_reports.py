"""A worker's model report through the execution API: the folder goes up file by file, the
report follows, and the version holds the files the server hashed, whatever the worker
claimed; a report whose folder never came registers nothing; a member path that climbs out
is refused."""

from __future__ import annotations

import hashlib
import json

import httpx
from fastapi import FastAPI

from tests.conftest import Account
from tests.exec.conftest import claim, queued_job, report, start_run
from tests.support.workflows import create_workflow

MLMODEL = json.dumps({"format": 1, "name": "iris", "flavor": "pickle", "file": "model.pkl"})
WEIGHTS = b"not really a pickle"


def model_report(artifact: str = "model-iris", **extra: object) -> dict[str, object]:
    return {"type": "model", "name": "iris", "artifact": artifact, "flavor": "pickle",
            "signature": {"inputs": [{"name": "a", "type": "double"}]}, **extra}  # fmt: skip


async def test_the_server_hashes_what_the_worker_uploaded(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI,
    worker: dict[str, str],
) -> None:  # fmt: skip
    editor = accounts["editor"]
    run = await start_run(client, editor, await create_workflow(client, editor))
    job = await queued_job(app, "load")
    assert (await claim(client, worker, job.attempt_id)).status_code == 200
    base = f"/api/v1/exec/attempts/{job.attempt_id}/artifacts/model-iris"
    for member, body in (("MLmodel.json", MLMODEL.encode()), ("model.pkl", WEIGHTS)):
        put = await client.put(base, params={"member": member}, content=body, headers=worker)
        assert put.status_code == 201, put.text
    climbing = await client.put(base, params={"member": "../../x"}, content=b"x",
                                headers=worker)  # fmt: skip
    assert climbing.status_code == 422

    lies = [{"name": "model.pkl", "size": 1, "sha256": "0" * 64}]
    sent = await report(client, worker, job.attempt_id, {"type": "metric", "key": "acc",
                        "value": 0.5}, model_report(files=lies, key="1/x/1/other"),
                        model_report("model-never-sent"))  # fmt: skip
    assert sent.status_code == 200, sent.text
    again = await report(client, worker, job.attempt_id, model_report())
    assert again.status_code == 200

    made = await client.get(f"/api/v1/runs/{run['id']}/models", headers=editor.headers)
    [version] = made.json()
    assert version["metrics"] == {"acc": 0.5}
    assert version["files"] == [
        {"name": "MLmodel.json", "size": len(MLMODEL),
         "sha256": hashlib.sha256(MLMODEL.encode()).hexdigest()},
        {"name": "model.pkl", "size": len(WEIGHTS), "sha256": hashlib.sha256(WEIGHTS).hexdigest()},
    ]  # fmt: skip
    got = await client.get("/api/v1/models/iris/versions/1/files/model.pkl",
                           headers=editor.headers)  # fmt: skip
    assert got.content == WEIGHTS
    artifacts = await client.get(f"/api/v1/runs/{run['id']}/artifacts", headers=editor.headers)
    assert [(a["name"], a["size"]) for a in artifacts.json()] == [
        ("model-iris", len(MLMODEL) + len(WEIGHTS))
    ]
