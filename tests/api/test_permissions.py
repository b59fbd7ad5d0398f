"""Role enforcement over every route of the app, driven by the app's own route table.

A route added without an entry in RULES or PUBLIC fails `test_every_route_is_classified`;
every classified route is then called without a token, with each role below the one it
needs, and (for workflow changes) by an editor who does not own the workflow.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

from plait.api.app import create_app
from tests.api.test_workflows import Accounts
from tests.conftest import Account, make_user, workflow_doc
from tests.support.workflows import create_workflow

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
    # Authenticated by the hook (its signature or token), not by a user: tests/chains.
    ("POST", "/api/v1/hooks/{public_id}"),
}
WF = "/api/v1/workflows/{ref}"
DS1 = "/api/v1/datasets/{dataset}"
M1 = "/api/v1/models/{model}"
MV = "/api/v1/models/{model}/versions/{version}"
# The least a caller needs. "owner": an editor who owns the workflow, or an admin.
RULES = {
    ("POST", "/api/v1/auth/logout"): "viewer",
    ("GET", "/api/v1/users/me"): "viewer",
    ("POST", "/api/v1/users/me/password"): "viewer",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("GET", "/api/v1/users/{user_id}"): "admin",
    ("PATCH", "/api/v1/users/{user_id}"): "admin",
    ("DELETE", "/api/v1/users/{user_id}"): "admin",
    ("POST", "/api/v1/tokens"): "viewer",
    ("GET", "/api/v1/tokens"): "viewer",
    ("DELETE", "/api/v1/tokens/{token_id}"): "viewer",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/metrics"): "admin",  # Prometheus scrapes with an admin's API token
    ("GET", "/api/v1/workflows"): "viewer",
    ("POST", "/api/v1/workflows"): "editor",
    ("GET", WF): "viewer",
    ("PUT", WF): "owner",
    ("PATCH", WF): "owner",
    ("DELETE", WF): "owner",
    ("POST", f"{WF}/clone"): "editor",
    ("GET", f"{WF}/export"): "viewer",
    ("GET", f"{WF}/versions/{{number}}/export"): "viewer",
    ("POST", "/api/v1/workflow-yaml"): "viewer",
    ("GET", f"{WF}/versions"): "viewer",
    ("GET", f"{WF}/versions/{{number}}"): "viewer",
    ("GET", f"{WF}/versions/{{a}}/diff/{{b}}"): "viewer",
    ("POST", f"{WF}/versions/{{number}}/restore"): "owner",
    ("GET", f"{WF}/tasks"): "viewer",
    ("POST", f"{WF}/tasks"): "owner",
    ("GET", f"{WF}/tasks/{{key}}"): "viewer",
    ("PUT", f"{WF}/tasks/{{key}}"): "owner",
    ("DELETE", f"{WF}/tasks/{{key}}"): "owner",
    ("POST", f"{WF}/runs"): "editor",
    ("GET", "/api/v1/runs"): "viewer",
    ("GET", f"{WF}/stats"): "viewer",
    ("GET", "/api/v1/stats"): "viewer",
    ("GET", "/api/v1/runs/{run_id}"): "viewer",
    ("POST", "/api/v1/runs/{run_id}/cancel"): "editor",
    ("POST", "/api/v1/runs/{run_id}/retry"): "editor",
    ("POST", "/api/v1/runs/{run_id}/rerun"): "editor",
    ("POST", "/api/v1/runs/{run_id}/pin"): "editor",
    ("DELETE", "/api/v1/runs/{run_id}/pin"): "editor",
    ("GET", "/api/v1/runs/{run_id}/tasks/{key}/logs"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/tasks/{key}/logs/stream"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/metrics"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/artifacts"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/artifacts/{artifact_id}"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/lineage"): "viewer",
    ("POST", f"{WF}/backfills"): "editor",
    ("GET", f"{WF}/backfills"): "viewer",
    ("GET", "/api/v1/backfills/{backfill_id}"): "viewer",
    ("POST", "/api/v1/backfills/{backfill_id}/cancel"): "editor",
    ("POST", "/api/v1/backfills/{backfill_id}/retry"): "editor",
    ("POST", f"{WF}/sweeps"): "editor",
    ("GET", f"{WF}/sweeps"): "viewer",
    ("GET", "/api/v1/sweeps/{sweep_id}"): "viewer",
    ("POST", "/api/v1/sweeps/{sweep_id}/cancel"): "editor",
    ("GET", f"{WF}/grid"): "viewer",
    ("GET", f"{WF}/fire-times"): "viewer",
    ("GET", "/api/v1/runs/final-metrics"): "viewer",
    ("GET", "/api/v1/runs/compare"): "viewer",
    ("POST", f"{WF}/hooks"): "owner",
    ("GET", f"{WF}/hooks"): "owner",
    ("PATCH", f"{WF}/hooks/{{hook_id}}"): "owner",
    ("DELETE", f"{WF}/hooks/{{hook_id}}"): "owner",
    ("GET", "/ws/stats"): "viewer",
    ("POST", "/api/v1/channels"): "editor",
    ("GET", "/api/v1/channels"): "viewer",
    ("GET", "/api/v1/channels/{channel_id}"): "viewer",
    ("PATCH", "/api/v1/channels/{channel_id}"): "owner",
    ("DELETE", "/api/v1/channels/{channel_id}"): "owner",
    ("POST", "/api/v1/channels/{channel_id}/test"): "owner",
    ("POST", "/api/v1/rules"): "editor",
    ("GET", "/api/v1/rules"): "viewer",
    ("GET", "/api/v1/rules/{rule_id}"): "viewer",
    ("PATCH", "/api/v1/rules/{rule_id}"): "owner",
    ("DELETE", "/api/v1/rules/{rule_id}"): "owner",
    ("GET", "/api/v1/deliveries"): "viewer",
    ("GET", "/api/v1/workers"): "viewer",
    ("GET", "/api/v1/templates"): "viewer",
    ("POST", "/api/v1/templates"): "editor",
    ("GET", "/api/v1/templates/{ref}"): "viewer",
    ("PATCH", "/api/v1/templates/{ref}"): "owner",
    ("DELETE", "/api/v1/templates/{ref}"): "owner",
    ("POST", "/api/v1/templates/{ref}/instantiate"): "editor",
    ("POST", f"{WF}/save-as-template"): "editor",
    # Worker tokens only, and nothing else (a person's token, whatever the role, is refused).
    ("POST", "/api/v1/exec/workers/heartbeat"): "worker",
    ("POST", "/api/v1/exec/attempts/{attempt_id}/claim"): "worker",
    ("POST", "/api/v1/exec/attempts/{attempt_id}/reports"): "worker",
    ("PUT", "/api/v1/exec/attempts/{attempt_id}/log"): "worker",
    ("PUT", "/api/v1/exec/attempts/{attempt_id}/artifacts/{name}"): "worker",
    ("POST", "/api/v1/exec/attempts/{attempt_id}/resolve-dataset"): "worker",
    (
        "GET",
        "/api/v1/exec/attempts/{attempt_id}/datasets/{dataset}/versions/{version}/download",
    ): "worker",
    ("PUT", "/api/v1/exec/attempts/{attempt_id}/datasets/{dataset}"): "worker",
    # datasets: editors add; the dataset's creator (or an admin) changes or deletes it
    ("GET", "/api/v1/datasets"): "viewer",
    ("POST", "/api/v1/datasets"): "editor",
    ("GET", DS1): "viewer",
    ("PATCH", DS1): "owner",
    ("DELETE", DS1): "owner",
    ("GET", f"{DS1}/versions"): "viewer",
    ("POST", f"{DS1}/versions"): "editor",
    ("GET", f"{DS1}/versions/{{version}}"): "viewer",
    ("GET", f"{DS1}/versions/{{version}}/download"): "viewer",
    ("GET", f"{DS1}/versions/{{version}}/lineage"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/datasets"): "viewer",
    # chat: anyone may describe a run; starting it takes an editor (a session is its user's)
    ("POST", "/api/v1/chat"): "viewer",
    ("GET", "/api/v1/chat/sessions/{session_id}"): "viewer",
    ("POST", "/api/v1/chat/sessions/{session_id}/confirm"): "editor",
    # models: editors create, change and move stages; the model's creator (or an admin) deletes
    ("GET", "/api/v1/models"): "viewer",
    ("POST", "/api/v1/models"): "editor",
    ("GET", M1): "viewer",
    ("PATCH", M1): "editor",
    ("DELETE", M1): "owner",
    ("GET", f"{M1}/versions"): "viewer",
    ("GET", f"{M1}/versions/{{version}}"): "viewer",
    ("PATCH", f"{M1}/versions/{{version}}"): "editor",
    ("POST", f"{M1}/versions/{{version}}/stage"): "editor",
    ("GET", f"{M1}/versions/{{version}}/lineage"): "viewer",
    ("GET", f"{M1}/versions/{{version}}/files/{{path}}"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/models"): "viewer",
    # model exports: editors convert, viewers download
    ("POST", f"{MV}/export"): "editor",
    ("GET", f"{MV}/exports"): "viewer",
    ("GET", f"{MV}/exports/{{format}}/download"): "viewer",
    ("GET", f"{MV}/package"): "viewer",
    # deployments: editors deploy, switch and stop; anyone signed in (API tokens too) predicts
    ("GET", "/api/v1/deployments"): "viewer",
    ("POST", "/api/v1/deployments"): "editor",
    ("GET", "/api/v1/deployments/{name}"): "viewer",
    ("PATCH", "/api/v1/deployments/{name}"): "editor",
    ("DELETE", "/api/v1/deployments/{name}"): "editor",
    ("POST", "/api/v1/deployments/{name}/predict"): "viewer",
    ("GET", "/api/v1/deployments/{name}/package"): "viewer",
}
BELOW = {
    "viewer": [],
    "editor": ["viewer"],
    "admin": ["viewer", "editor"],
    "owner": ["viewer", "other_editor"],
    "worker": ["viewer", "editor", "admin"],
}
TASK = {"key": "load", "kind": "python", "code": "print(1)"}
# Valid bodies, so that a refusal cannot hide behind a 422.
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", WF): workflow_doc("train", description="changed"),
    ("PATCH", WF): {"description": "changed"},
    ("POST", f"{WF}/tasks"): {"key": "extra", "kind": "shell", "command": "true"},
    ("PUT", f"{WF}/tasks/{{key}}"): TASK,
    ("POST", f"{WF}/clone"): {"name": "copy"},
    ("POST", "/api/v1/workflows"): workflow_doc("other"),
    ("POST", "/api/v1/users"): {"username": "someone", "password": "long-enough-1"},
    ("PATCH", "/api/v1/users/{user_id}"): {"email": "a@b.cd"},
    ("POST", "/api/v1/tokens"): {"name": "t"},
    ("POST", f"{WF}/runs"): {"params": {"lr": 0.5}},
    ("POST", f"{WF}/backfills"): {"start": "2026-01-01", "end": "2026-01-02"},
    ("POST", f"{WF}/sweeps"): {"grid": {"lr": [0.1, 0.2]}},
    ("POST", "/api/v1/channels"): {
        "name": "c2",
        "kind": "webhook",
        "config": {"url": "http://127.0.0.1:9/"},
        "secret": "k" * 16,
    },
    ("PATCH", "/api/v1/channels/{channel_id}"): {"enabled": False},
    ("POST", "/api/v1/rules"): {"name": "r2", "channel_id": 1, "events": ["run.failed"]},
    ("PATCH", "/api/v1/rules/{rule_id}"): {"enabled": False},
    ("POST", f"{WF}/hooks"): {"name": "h", "params": {"lr": "/lr"}},
    ("PATCH", f"{WF}/hooks/{{hook_id}}"): {"enabled": False},
    ("POST", "/api/v1/templates"): {"name": "t2", "category": "other", "spec": workflow_doc("x")},
    ("PATCH", "/api/v1/templates/{ref}"): {"description": "changed"},
    ("POST", "/api/v1/templates/{ref}/instantiate"): {"name": "from-template"},
    ("POST", f"{WF}/save-as-template"): {"name": "saved"},
    ("POST", "/api/v1/exec/workers/heartbeat"): {"worker": "h:1", "concurrency": 1},
    ("POST", "/api/v1/exec/attempts/{attempt_id}/claim"): {"worker": "h:1"},
    ("POST", "/api/v1/exec/attempts/{attempt_id}/reports"): {"reports": []},
    ("POST", "/api/v1/datasets"): {"name": "other"},
    ("POST", "/api/v1/exec/attempts/{attempt_id}/resolve-dataset"): {"name": "iris"},
    ("PATCH", DS1): {"description": "changed"},
    ("POST", f"{DS1}/versions"): {"uri": "s3://bucket/iris.csv"},
    ("POST", "/api/v1/chat"): {"message": "run train with lr 0.5"},
    ("POST", "/api/v1/models"): {"name": "other-model"},
    ("PATCH", M1): {"description": "changed"},
    ("PATCH", f"{M1}/versions/{{version}}"): {"description": "changed"},
    ("POST", f"{M1}/versions/{{version}}/stage"): {"stage": "staging"},
    ("POST", f"{MV}/export"): {"format": "onnx"},
    ("POST", "/api/v1/deployments"): {"name": "d", "model": "iris", "stage": "production"},
    ("PATCH", "/api/v1/deployments/{name}"): {"max_batch": 10},
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves: its OpenAPI operations and its plain routes.

    (Read from the OpenAPI document because FastAPI's route objects differ across versions.)
    """
    found = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    for route in app.routes:
        if isinstance(route, APIRoute | Route) and route.methods:
            found |= {(m, route.path) for m in route.methods if m not in ("HEAD", "OPTIONS")}
    return found


def test_every_route_is_classified() -> None:
    unclassified = app_routes(create_app()) - PUBLIC - set(RULES)
    assert not unclassified, f"routes with no permission rule in this test: {unclassified}"
    assert not (set(RULES) - app_routes(create_app())), "RULES names routes that do not exist"


def url(path: str, ids: dict[str, Any]) -> str:
    return path.format(ref="train", number=1, a=1, b=1, key="load", name="a.txt", **ids)


async def call(
    client: httpx.AsyncClient, method: str, path: str, ids: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    body = BODIES.get((method, path), {}) if method in ("POST", "PUT", "PATCH") else None
    return await client.request(method, url(path, ids), json=body, headers=headers)


async def notification_ids(client: httpx.AsyncClient, who: Account) -> dict[str, Any]:
    """A channel (to a port nothing listens on: its test fails fast) and a rule, both the
    editor's."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    doc = {"name": "c", "kind": "webhook", "config": {"url": dead}, "secret": "k" * 16}
    channel = (await client.post("/api/v1/channels", json=doc, headers=who.headers)).json()
    rule = {"name": "r", "channel_id": channel["id"], "events": ["run.failed"]}
    created = (await client.post("/api/v1/rules", json=rule, headers=who.headers)).json()
    return {"channel_id": channel["id"], "rule_id": created["id"]}


@pytest.fixture
async def ids(app: FastAPI, client: httpx.AsyncClient, accounts: Accounts) -> dict[str, Any]:
    await create_workflow(client, accounts["editor"])
    token = await client.post(
        "/api/v1/tokens", json={"name": "x"}, headers=accounts["viewer"].headers
    )
    spare = await make_user(app, "spare", "viewer")  # the one the user routes change and delete
    run = await client.post("/api/v1/workflows/train/runs", json={},
                            headers=accounts["editor"].headers)  # fmt: skip
    hook = await client.post("/api/v1/workflows/train/hooks", json={"name": "h"},
                             headers=accounts["editor"].headers)  # fmt: skip
    notify = await notification_ids(client, accounts["editor"])
    # A public template named like the workflow: `{ref}` is "train" in template paths too.
    template = {"name": "train", "category": "other", "spec": workflow_doc("train")}
    await client.post("/api/v1/templates", json=template, headers=accounts["editor"].headers)
    await client.post("/api/v1/datasets", json={"name": "iris"}, headers=accounts["editor"].headers)
    await client.post("/api/v1/datasets/iris/versions", files={"file": ("a.csv", b"a\n1\n")},
                      headers=accounts["editor"].headers)  # fmt: skip
    await client.post("/api/v1/models", json={"name": "iris"}, headers=accounts["editor"].headers)
    worker = await client.post(
        "/api/v1/tokens", json={"name": "w", "worker": True}, headers=accounts["admin"].headers
    )
    accounts["worker"] = Account(0, "admin", "worker",
                                 {"Authorization": f"Bearer {worker.json()['token']}"})  # fmt: skip
    return {"user_id": spare.id, "token_id": token.json()["id"], "run_id": run.json()["id"],
            "artifact_id": 1, "hook_id": hook.json()["id"], "attempt_id": 10**9, "backfill_id": 1,
            "sweep_id": 1, "dataset": "iris", "version": 1, "session_id": 1, "model": "iris",
            "path": "MLmodel.json", "format": "onnx", **notify}  # fmt: skip


async def test_no_token_no_entry(client: httpx.AsyncClient, ids: dict[str, Any]) -> None:
    for method, path in RULES:
        response = await call(client, method, path, ids, {})
        assert response.status_code == 401, (method, path, response.text)


async def test_roles_below_the_rule_are_refused(
    client: httpx.AsyncClient, accounts: Accounts, ids: dict[str, Any]
) -> None:
    for (method, path), need in RULES.items():
        for role in BELOW[need]:
            response = await call(client, method, path, ids, accounts[role].headers)
            assert response.status_code == 403, (method, path, role, response.text)


async def test_the_rule_role_gets_through(
    client: httpx.AsyncClient, accounts: Accounts, ids: dict[str, Any]
) -> None:
    allowed = {"viewer": "viewer", "editor": "editor", "admin": "admin", "owner": "editor",
               "worker": "worker"}  # fmt: skip
    # Deletions last, so that every other route still finds what it addresses; logging out
    # (everywhere: it ends the caller's tokens) after them.
    last = {"DELETE": 1, "/api/v1/auth/logout": 2}
    for (method, path), need in sorted(
        RULES.items(), key=lambda r: last.get(r[0][1], last.get(r[0][0], 0))
    ):
        for role in (allowed[need], "admin") if need != "worker" else ("worker",):
            response = await call(client, method, path, ids, accounts[role].headers)
            assert response.status_code not in (401, 403), (method, path, role, response.text)
            assert response.status_code < 500, (method, path, role, response.text)


async def test_a_worker_token_is_refused_everywhere_but_the_execution_api(
    client: httpx.AsyncClient, accounts: Accounts, ids: dict[str, Any]
) -> None:
    for (method, path), need in RULES.items():
        if need != "worker":
            response = await call(client, method, path, ids, accounts["worker"].headers)
            assert response.status_code == 403, (method, path, response.text)
