"""The run engine end to end through the API: order, data between tasks, retries, timeouts,
cancel, retry from failure, idempotent triggers, params, logs, metrics and artifacts."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Account
from tests.support.processes import wait_holding, wait_released

Accounts = dict[str, Account]
FINISHED = ("succeeded", "failed", "cancelled")


def py(key: str, code: str, *deps: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "kind": "python", "code": code, "depends_on": list(deps), **extra}


async def start(
    client: httpx.AsyncClient,
    who: Account,
    tasks: list[dict[str, Any]],
    name: str = "wf",
    params: dict[str, Any] | None = None,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    doc = {"name": name, "tasks": tasks, "params": schema or {}}
    created = await client.post("/api/v1/workflows", json=doc, headers=who.headers)
    assert created.status_code == 201, created.text
    run = await client.post(f"/api/v1/workflows/{name}/runs", json={"params": params or {}},
                            headers=who.headers)  # fmt: skip
    assert run.status_code == 201, run.text
    body: dict[str, Any] = run.json()
    return body


async def wait(
    client: httpx.AsyncClient,
    who: Account,
    run_id: int,
    until: tuple[str, ...] = FINISHED,
    within: float = 30,
    every: float = 0.05,
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run: dict[str, Any] = (
            await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)
        ).json()
        if run["status"] in until:
            return run
        await asyncio.sleep(every)
    raise AssertionError(f"run {run_id} still {run['status']} after {within} s: {run}")


def task(run: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in run["tasks"] if t["key"] == key)
    return found


def span(run: dict[str, Any], key: str) -> tuple[str, str]:
    last = task(run, key)["attempts"][-1]
    return last["started_at"], last["finished_at"]


async def test_chain_fan_out_and_fan_in_run_in_dependency_order(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    pass_n = "import plait\nplait.set_output('n', sum(v['n'] for v in plait.inputs().values()) + 1)"
    tasks = [
        py("root", pass_n),
        py("a", pass_n, "root"),
        py("b", pass_n, "root"),
        py("c", pass_n, "root"),
        py("join", pass_n, "a", "b", "c"),
        py("end", pass_n, "join"),
    ]
    run = await start(client, accounts["editor"], tasks)
    done = await wait(client, accounts["editor"], run["id"])
    assert done["status"] == "succeeded"
    for upstream, downstream in [("root", "a"), ("root", "b"), ("root", "c"), ("a", "join"),
                                 ("b", "join"), ("c", "join"), ("join", "end")]:  # fmt: skip
        assert span(done, upstream)[1] <= span(done, downstream)[0], (upstream, downstream)
    # outputs flow downstream: root=1, a=b=c=2, join=7, end=8
    assert task(done, "join")["attempts"][0]["outputs"] == {"n": 7}
    assert task(done, "end")["attempts"][0]["outputs"] == {"n": 8}


async def test_a_failure_stops_what_depends_on_it_and_the_traceback_is_logged(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    tasks = [
        py("ok", "print('fine')"),
        py("boom", "print('before')\nraise ValueError('bad data')"),
        py("after", "pass", "boom"),
        py("later", "pass", "after"),
        py("side", "pass", "ok"),
    ]
    run = await start(client, accounts["editor"], tasks)
    done = await wait(client, accounts["editor"], run["id"])
    assert done["status"] == "failed"
    boom = task(done, "boom")
    assert boom["status"] == "failed" and boom["attempts"][0]["exit_code"] == 1
    assert boom["attempts"][0]["error"] == "ValueError: bad data"
    assert task(done, "after")["status"] == "upstream_failed"
    assert task(done, "later")["status"] == "upstream_failed"
    assert task(done, "side")["status"] == "succeeded"
    log = await client.get(f"/api/v1/runs/{run['id']}/tasks/boom/logs",
                           headers=accounts["viewer"].headers)  # fmt: skip
    content = log.json()["content"]
    assert "before" in content and "Traceback (most recent call last)" in content
    # The failing line of the task's code, shown as for a file on disk.
    assert "File \"task boom\", line 2, in <module>\n    raise ValueError('bad data')\n" in content
    assert log.json()["complete"] is True


async def test_retries_wait_longer_each_time(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    counter = tmp_path / "tries"
    code = (
        "import os, pathlib\n"
        "p = pathlib.Path(os.environ['COUNTER'])\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "if n < 3: raise RuntimeError(f'try {n} fails')\n"
    )
    flaky = py("flaky", code, retries=3, retry_delay=0.3, retry_backoff=2,
               env={"COUNTER": str(counter)})  # fmt: skip
    run = await start(client, accounts["editor"], [flaky])
    done = await wait(client, accounts["editor"], run["id"])
    attempts = task(done, "flaky")["attempts"]
    assert done["status"] == "succeeded"
    assert [a["status"] for a in attempts] == ["up_for_retry", "up_for_retry", "succeeded"]
    assert attempts[0]["error"] == "RuntimeError: try 1 fails"
    gaps = [_gap(attempts[i]["finished_at"], attempts[i + 1]["started_at"]) for i in range(2)]
    assert 0.3 * 0.9 <= gaps[0] < 0.3 * 1.1 + 0.5
    assert 0.6 * 0.9 <= gaps[1] < 0.6 * 1.1 + 0.5  # the delay doubled


def _gap(end: str, start: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(start) - datetime.fromisoformat(end)).total_seconds()


async def test_a_task_over_its_timeout_is_killed_and_fails(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    slow = py("slow", "import time\nprint('start', flush=True)\ntime.sleep(60)", timeout=0.5)
    run = await start(client, accounts["editor"], [slow])
    done = await wait(client, accounts["editor"], run["id"], within=15)
    attempt = task(done, "slow")["attempts"][0]
    assert done["status"] == "failed" and attempt["error"] == "timed out after 0.5 s"
    assert attempt["duration"] < 5


@pytest.mark.parametrize("ignore_term", [False, True])
async def test_cancel_mid_run_kills_the_processes(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path, ignore_term: bool
) -> None:
    marker = tmp_path / "marker"
    marker.touch()
    trap = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else ""
    code = (
        f"{trap}import os, subprocess, time\n"
        f"held = os.open({str(marker)!r}, os.O_RDONLY)\n"
        "child = subprocess.Popen(['sleep', '60'], pass_fds=[held])\n"
        "time.sleep(60)\n"
    )
    run = await start(client, accounts["editor"], [py("long", code), py("next", "pass", "long")])
    await wait_holding(marker, 2)  # the task and the child it started
    cancel = await client.post(
        f"/api/v1/runs/{run['id']}/cancel", headers=accounts["editor"].headers
    )
    assert cancel.status_code == 202 and cancel.json()["cancel_requested"] is True
    done = await wait(client, accounts["editor"], run["id"], within=15)
    assert done["status"] == "cancelled"
    assert task(done, "long")["status"] == "cancelled"
    assert task(done, "next")["status"] == "cancelled"
    assert await wait_released(marker, within=0) == [], "processes survived the cancel"
    again = await client.post(
        f"/api/v1/runs/{run['id']}/cancel", headers=accounts["editor"].headers
    )
    assert again.status_code == 409


async def test_retry_from_failure_keeps_what_succeeded(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    tasks = [
        py("extract", "import plait, random\nplait.set_output('token', random.random())"),
        py("transform", f"import os\nif not os.path.exists({str(flag)!r}): raise SystemExit(3)",
           "extract"),
        py("load", "import plait\nplait.set_output('got', plait.inputs()['extract']['token'])",
           "extract", "transform"),
    ]  # fmt: skip
    run = await start(client, accounts["editor"], tasks)
    failed = await wait(client, accounts["editor"], run["id"])
    assert failed["status"] == "failed" and task(failed, "load")["status"] == "upstream_failed"
    token = task(failed, "extract")["attempts"][0]["outputs"]["token"]
    flag.touch()
    retried = await client.post(
        f"/api/v1/runs/{run['id']}/retry", headers=accounts["editor"].headers
    )
    assert retried.status_code == 200
    done = await wait(client, accounts["editor"], run["id"])
    assert done["status"] == "succeeded"
    assert len(task(done, "extract")["attempts"]) == 1  # not run again
    assert [a["status"] for a in task(done, "transform")["attempts"]] == ["failed", "succeeded"]
    assert task(done, "load")["attempts"][-1]["outputs"] == {"got": token}
    no_more = await client.post(
        f"/api/v1/runs/{run['id']}/retry", headers=accounts["editor"].headers
    )
    assert no_more.status_code == 409


async def test_rerun_starts_a_new_run_with_the_same_params(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    schema = {"n": {"type": "integer", "default": 1}}
    run = await start(client, accounts["editor"], [py("a", "pass")], params={"n": 5}, schema=schema)
    await wait(client, accounts["editor"], run["id"])
    again = await client.post(f"/api/v1/runs/{run['id']}/rerun", headers=accounts["editor"].headers)
    assert again.status_code == 201
    assert again.json()["params"] == {"n": 5} and again.json()["rerun_of"] == run["id"]


async def test_the_same_idempotency_key_gives_the_same_run(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["editor"].headers
    await client.post(
        "/api/v1/workflows", json={"name": "wf", "tasks": [py("a", "pass")]}, headers=h
    )
    key = {**h, "Idempotency-Key": "deploy-42"}
    first = await client.post("/api/v1/workflows/wf/runs", json={}, headers=key)
    second = await client.post("/api/v1/workflows/wf/runs", json={}, headers=key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    racing = await asyncio.gather(
        *[client.post("/api/v1/workflows/wf/runs", json={}, headers={**h, "Idempotency-Key": "k2"})
          for _ in range(4)]
    )  # fmt: skip
    assert len({r.json()["id"] for r in racing}) == 1
    listed = (await client.get("/api/v1/runs?workflow=wf", headers=h)).json()["items"]
    assert len(listed) == 2


async def test_params_are_checked_and_defaults_merged(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["editor"].headers
    schema = {
        "n_estimators": {"type": "integer", "default": 100, "minimum": 1, "maximum": 500},
        "model": {"type": "string", "enum": ["rf", "gb"], "default": "rf"},
        "note": {"type": "string", "required": True},
    }
    doc = {"name": "wf", "params": schema,
           "tasks": [py("a", "import plait\nplait.set_output('p', plait.params())")]}  # fmt: skip
    await client.post("/api/v1/workflows", json=doc, headers=h)
    cases = [
        ({"n_estimators": "many", "note": "x"}, "params.n_estimators", "expected integer"),
        ({"n_estimators": 501, "note": "x"}, "params.n_estimators", "<= 500"),
        ({"model": "svm", "note": "x"}, "params.model", "one of"),
        ({"extra": 1, "note": "x"}, "params.extra", "unknown parameter"),
        ({}, "params.note", "required"),
    ]
    for params, field, fragment in cases:
        bad = await client.post("/api/v1/workflows/wf/runs", json={"params": params}, headers=h)
        assert bad.status_code == 422, params
        errors = {e["field"]: e["message"] for e in bad.json()["errors"]}
        assert fragment in errors[field], (params, errors)
    ok = await client.post("/api/v1/workflows/wf/runs", json={"params": {"note": "hi"}}, headers=h)
    run = ok.json()
    assert run["params"] == {"n_estimators": 100, "model": "rf", "note": "hi"}
    done = await wait(client, accounts["editor"], run["id"])
    assert task(done, "a")["attempts"][0]["outputs"]["p"] == run["params"]
    assert done["workflow_version"] == 1


async def test_metrics_artifacts_and_outputs_are_served(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    code = (
        "import plait, pathlib\n"
        "for step in range(3):\n"
        "    plait.log_metric('loss', 1.0 / (step + 1), step=step)\n"
        "plait.log_metric('accuracy', 0.93)\n"
        "pathlib.Path('model.txt').write_text('weights')\n"
        "plait.set_output('model', plait.log_artifact('model.txt'))\n"
        "try:\n"
        "    plait.set_output('huge', 'x' * 100_000)\n"
        "except ValueError as e:\n"
        "    plait.set_output('limit', str(e))\n"
    )
    reader = (
        "import plait, pathlib\nprint(pathlib.Path(plait.inputs()['train']['model']).read_text())"
    )
    run = await start(client, accounts["editor"], [py("train", code), py("read", reader, "train")])
    done = await wait(client, accounts["editor"], run["id"])
    assert done["status"] == "succeeded", done
    h = accounts["viewer"].headers
    metrics = (await client.get(f"/api/v1/runs/{run['id']}/metrics", headers=h)).json()
    assert [(m["key"], m["step"], m["value"]) for m in metrics] == [
        ("accuracy", None, 0.93), ("loss", 0, 1.0), ("loss", 1, 0.5), ("loss", 2, 1 / 3)
    ]  # fmt: skip
    outputs = task(done, "train")["attempts"][0]["outputs"]
    assert "64 KiB limit" in outputs["limit"] and "huge" not in outputs
    artifacts = (await client.get(f"/api/v1/runs/{run['id']}/artifacts", headers=h)).json()
    assert [(a["name"], a["size"]) for a in artifacts] == [("model.txt", 7)]
    file = await client.get(f"/api/v1/runs/{run['id']}/artifacts/{artifacts[0]['id']}", headers=h)
    assert file.status_code == 200 and file.content == b"weights"
    log = await client.get(f"/api/v1/runs/{run['id']}/tasks/read/logs", headers=h)
    assert log.json()["content"] == "weights\n"


async def test_the_log_streams_while_the_task_runs(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    code = "import time\nfor i in range(5):\n    print(f'line {i}')\n    time.sleep(0.2)\n"
    run = await start(client, accounts["editor"], [py("talk", code)])
    await wait(client, accounts["editor"], run["id"], until=("running", *FINISHED))
    url = f"/api/v1/runs/{run['id']}/tasks/talk/logs/stream"
    events: list[tuple[str, dict[str, Any]]] = []
    async with client.stream("GET", url, headers=accounts["viewer"].headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    text = "".join(data["text"] for kind, data in events if kind == "log")
    assert text == "".join(f"line {i}\n" for i in range(5))
    assert sum(kind == "log" for kind, _ in events) >= 2  # it arrived in pieces, as printed
    assert events[-1] == ("end", {"status": "succeeded", "offset": len(text)})


async def test_shell_and_callable_tasks(client: httpx.AsyncClient, accounts: Accounts) -> None:
    tasks: list[dict[str, Any]] = [
        {"key": "sh", "kind": "shell", "command": "echo \"$GREETING from $PLAIT_TASK_KEY\"",
         "env": {"GREETING": "hello"}},
        {"key": "call", "kind": "callable", "callable": "platform:python_version"},
        {"key": "bad", "kind": "shell", "command": "echo oops >&2; exit 7"},
    ]  # fmt: skip
    run = await start(client, accounts["editor"], tasks)
    done = await wait(client, accounts["editor"], run["id"])
    h = accounts["viewer"].headers
    log = await client.get(f"/api/v1/runs/{run['id']}/tasks/sh/logs", headers=h)
    assert log.json()["content"] == "hello from sh\n"
    assert task(done, "call")["attempts"][0]["outputs"]["return"].count(".") == 2
    bad = task(done, "bad")["attempts"][0]
    assert (bad["exit_code"], bad["error"]) == (7, "exit code 7: oops")


async def test_tasks_never_see_the_servers_secrets(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    code = (
        "import os, plait\n"
        "plait.set_output('env', sorted(k for k in os.environ if k.startswith('PLAIT_')))"
    )
    run = await start(client, accounts["editor"], [py("peek", code)])
    done = await wait(client, accounts["editor"], run["id"])
    seen = task(done, "peek")["attempts"][0]["outputs"]["env"]
    assert "PLAIT_RUN_ID" in seen and "PLAIT_SECRET_KEY" not in seen
    assert not {"PLAIT_DATABASE_URL", "PLAIT_ADMIN_PASSWORD"} & set(seen)


async def test_logs_with_bytes_that_are_not_utf8_are_read_to_the_end(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    code = (
        "import sys\n"
        "sys.stdout.write('ok ')\n"
        "sys.stdout.flush()\n"
        "sys.stdout.buffer.write(b'\\xff\\xe2\\x82')  # invalid, then a character cut short\n"
    )
    run = await start(client, accounts["editor"], [py("bytes", code)])
    await wait(client, accounts["editor"], run["id"])
    h = accounts["viewer"].headers
    log = (await client.get(f"/api/v1/runs/{run['id']}/tasks/bytes/logs", headers=h)).json()
    assert log["content"] == "ok \ufffd\ufffd" and log["complete"] is True
    url = f"/api/v1/runs/{run['id']}/tasks/bytes/logs/stream"
    async with client.stream("GET", url, headers=h) as response:
        lines = [line async for line in response.aiter_lines() if line.startswith("event: ")]
    assert lines == ["event: log", "event: end"]


async def test_max_active_runs_queues_the_next_run_until_one_ends(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    h = accounts["editor"].headers
    doc = {"name": "wf", "max_active_runs": 1, "tasks": [py("nap", "import time; time.sleep(0.5)")]}
    await client.post("/api/v1/workflows", json=doc, headers=h)
    first = (await client.post("/api/v1/workflows/wf/runs", json={}, headers=h)).json()
    second = (await client.post("/api/v1/workflows/wf/runs", json={}, headers=h)).json()
    await wait(client, accounts["editor"], first["id"], until=("running",))
    assert (await client.get(f"/api/v1/runs/{second['id']}", headers=h)).json()[
        "status"
    ] == "queued"
    one = await wait(client, accounts["editor"], first["id"])
    two = await wait(client, accounts["editor"], second["id"])
    assert one["status"] == two["status"] == "succeeded"
    assert one["finished_at"] <= two["started_at"]
