"""Errors say what to do, as a client sees them: paths that name task keys, "did you mean",
cron fields and name rules in words, `rerun` for a succeeded run, a log that never was."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Account
from tests.orchestration.test_engine import py, start, task, wait

Accounts = dict[str, Account]
NAME_RULE = "use letters, digits, - and _, starting with a letter, at most 100 characters"


def problems(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_a_document_problem_names_its_task_and_what_was_meant(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    doc = {
        "name": "wf",
        "schedule": "0 25 * * *",
        "tasks": [py("train", "pass"), py("evaluate", "x = 1\ny = (", "trian")],
    }
    response = await client.post("/api/v1/workflows", json=doc, headers=accounts["editor"].headers)
    assert problems(response) == {
        "schedule": "hour field '25' is out of range 0-23",
        "tasks.evaluate.code": "line 2: '(' was never closed",
        "tasks.evaluate.depends_on": "unknown task 'trian'; did you mean 'train'?",
    }
    by_field = {e["field"]: e["loc"] for e in response.json()["errors"]}
    assert by_field["tasks.evaluate.depends_on"] == ["tasks", 1, "depends_on"]  # for the UI


async def test_the_shape_of_a_document_is_checked_with_task_keys_and_words(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    doc = {
        "name": "9lives",
        "tags": ["night shift"],
        "schedul": "@daily",
        "params": {"learning rate": {"type": "number"}},
        "tasks": [{**py("train", "pass"), "dependson": [], "retries": "many"}],
    }
    response = await client.post("/api/v1/workflows", json=doc, headers=accounts["editor"].headers)
    assert problems(response) == {
        "name": f"'9lives' is not allowed: {NAME_RULE}",
        "tags[0]": "'night shift' is not allowed: use letters, digits and _ . : / -, "
        "at most 64 characters",
        "schedul": "unknown field 'schedul'; did you mean 'schedule'?",
        "params.learning rate.[key]": f"'learning rate' is not allowed: {NAME_RULE}",
        "tasks.train.retries": "Input should be a valid integer, unable to parse string as an "
        "integer",
        "tasks.train.dependson": "unknown field 'dependson'; did you mean 'depends_on'?",
    }


async def test_a_patch_and_the_tasks_api_name_tasks_by_key_too(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["editor"].headers
    doc = {"name": "wf", "tasks": [py("train", "pass")]}
    assert (await client.post("/api/v1/workflows", json=doc, headers=h)).status_code == 201
    tasks = [py("train", "pass"), {"key": "report", "kind": "shell", "comand": "echo"}]
    patched = await client.patch("/api/v1/workflows/wf", json={"tasks": tasks}, headers=h)
    assert problems(patched) == {
        "tasks.report.comand": "unknown field 'comand'; did you mean 'command'?"
    }
    added = await client.post("/api/v1/workflows/wf/tasks", json=py("report", "pass", "trains"),
                              headers=h)  # fmt: skip
    assert problems(added) == {
        "tasks.report.depends_on": "unknown task 'trains'; did you mean 'train'?"
    }
    missing = await client.get("/api/v1/workflows/wf/tasks/trian", headers=h)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no task 'trian' in this workflow; did you mean 'train'?"


async def test_an_unknown_param_of_a_run_says_which_was_meant(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["editor"].headers
    schema = {"n_estimators": {"type": "integer", "default": 10}, "depth": {"type": "integer"}}
    doc = {"name": "wf", "params": schema, "tasks": [py("train", "pass")]}
    assert (await client.post("/api/v1/workflows", json=doc, headers=h)).status_code == 201
    params: dict[str, Any] = {"n_estimator": 5, "seed": 1}
    response = await client.post("/api/v1/workflows/wf/runs", json={"params": params}, headers=h)
    assert problems(response) == {
        "params.n_estimator": "unknown parameter; did you mean 'n_estimators'?",
        "params.seed": "unknown parameter; this workflow takes depth, n_estimators",
    }


async def test_retry_of_a_succeeded_run_suggests_rerun(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    run = await start(client, accounts["editor"], [py("a", "pass")])
    await wait(client, accounts["editor"], run["id"])
    retried = await client.post(f"/api/v1/runs/{run['id']}/retry",
                                headers=accounts["editor"].headers)  # fmt: skip
    assert retried.status_code == 409
    rid = run["id"]
    assert retried.json()["detail"] == (
        f"run {rid} succeeded: retry runs again only what failed or was cancelled; to run it "
        f"all again, rerun it: `plait runs rerun {rid}` (POST /api/v1/runs/{rid}/rerun)"
    )


async def test_the_log_of_a_task_that_never_ran_says_why(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    tasks = [py("prepare", "raise SystemExit(2)"), py("train", "pass", "prepare"),
             py("report", "pass", "train"), py("typo", "pass")]  # fmt: skip
    run = await start(client, accounts["editor"], tasks)
    done = await wait(client, accounts["editor"], run["id"])
    assert task(done, "report")["status"] == "upstream_failed"
    rid, h = run["id"], accounts["viewer"].headers

    async def log_of(key: str) -> httpx.Response:
        return await client.get(f"/api/v1/runs/{rid}/tasks/{key}/logs", headers=h)

    train, report = await log_of("train"), await log_of("report")
    assert (train.status_code, report.status_code) == (404, 404)
    assert train.json()["detail"] == (
        f"task 'train' never ran in run {rid}: it was skipped because 'prepare' failed"
    )
    assert report.json()["detail"] == (
        f"task 'report' never ran in run {rid}: it was skipped because 'train' did not run either"
    )
    assert (await log_of("prepare")).status_code == 200  # it ran, though it printed nothing
    assert (await log_of("typos")).json()["detail"] == (
        f"run {rid} has no task 'typos'; did you mean 'typo'?"
    )


async def test_a_trigger_on_a_misspelt_workflow_says_which_was_meant(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["editor"].headers
    upstream = {"name": "nightly-etl", "tasks": [py("load", "pass")]}
    assert (await client.post("/api/v1/workflows", json=upstream, headers=h)).status_code == 201
    triggers = [{"workflow": "nightly-elt"}, {"workflow": "weekly", "params": {"x": "param.x"}}]
    doc: dict[str, Any] = {"name": "train", "tasks": [py("fit", "pass")], "triggers": triggers}
    response = await client.post("/api/v1/workflows", json=doc, headers=h)
    assert problems(response) == {
        "triggers[1].params.x": "'param.x' is not allowed: use params.<name> (a param of the "
        "finished run) or outputs.<task>.<key> (an output of one of its tasks), at most 300 "
        "characters"
    }
    del doc["triggers"][1]["params"]
    response = await client.post("/api/v1/workflows", json=doc, headers=h)
    assert problems(response) == {
        "triggers[0].workflow": "no workflow named 'nightly-elt'; did you mean 'nightly-etl'?",
        "triggers[1].workflow": "no workflow named 'weekly'",
    }


async def test_the_log_of_a_task_cancelled_before_it_started_says_so(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["editor"].headers
    tasks = [py("long", "import time\ntime.sleep(60)"), py("next", "pass", "long")]
    run = await start(client, accounts["editor"], tasks)
    rid = run["id"]
    await wait(client, accounts["editor"], rid, until=("running",))  # `next` waits for `long`
    assert (await client.post(f"/api/v1/runs/{rid}/cancel", headers=h)).status_code == 202
    done = await wait(client, accounts["editor"], rid)
    assert task(done, "next")["status"] == "cancelled"
    never = await client.get(f"/api/v1/runs/{rid}/tasks/next/logs", headers=h)
    assert never.status_code == 404
    assert never.json()["detail"] == (
        f"task 'next' never ran in run {rid}: it was cancelled before it started"
    )
