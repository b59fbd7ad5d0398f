"""What a shell task gets: the server's Python first on PATH, and params, upstream outputs
and the logical date in documented environment variables."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import Account
from tests.orchestration.test_engine import py, start, task, wait

SCRIPT = """\
command -v python
python -c 'import plait; print("sdk", plait.progress.__name__)'
echo "x=$PLAIT_PARAM_X flag=$PLAIT_PARAM_FLAG"
python -c 'import json, os; print("n", json.loads(os.environ["PLAIT_INPUTS"])["up"]["n"])'
python -c 'import json, os; print("file", json.load(open(os.environ["PLAIT_INPUTS_FILE"])))'
echo "when=$PLAIT_LOGICAL_DATE task=$PLAIT_TASK_KEY attempt=$PLAIT_ATTEMPT run=$PLAIT_RUN_ID"
"""


async def test_a_shell_task_runs_the_servers_python_and_reads_params_inputs_and_date(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    who = accounts["editor"]
    doc = {
        "name": "shell",
        "timezone": "Asia/Kolkata",  # +05:30: the logical date carries the workflow's offset
        "params": {"x": {"type": "string", "default": "a b"}, "flag": {"type": "boolean"}},
        "tasks": [
            py("up", "import plait\nplait.set_output('n', 42)"),
            {"key": "sh", "kind": "shell", "command": SCRIPT, "depends_on": ["up"]},
        ],
    }
    created = await client.post("/api/v1/workflows", json=doc, headers=who.headers)
    assert created.status_code == 201, created.text
    made = await client.post("/api/v1/workflows/shell/runs", json={"params": {"flag": True}},
                             headers=who.headers)  # fmt: skip
    assert made.status_code == 201, made.text
    run = await wait(client, who, made.json()["id"])
    assert run["status"] == "succeeded", task(run, "sh")["attempts"]
    log = await client.get(f"/api/v1/runs/{run['id']}/tasks/sh/logs", headers=who.headers)
    lines = log.json()["content"].splitlines()
    assert os.path.dirname(lines[0]) == os.path.dirname(sys.executable)
    assert lines[1] == "sdk progress"
    assert lines[2] == "x=a b flag=true"
    assert lines[3] == "n 42"
    assert lines[4] == "file {'up': {'n': 42}}"
    created_at = datetime.fromisoformat(run["created_at"]).astimezone(ZoneInfo("Asia/Kolkata"))
    assert lines[5] == f"when={created_at.isoformat()} task=sh attempt=1 run={run['id']}"
    assert "+05:30 " in lines[5]


async def test_a_python_task_of_a_manual_run_has_its_creation_as_logical_date(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    code = "import plait\nplait.set_output('when', plait.logical_date().isoformat())"
    run = await start(client, accounts["editor"], [py("t", code)], name="manual")
    done = await wait(client, accounts["editor"], run["id"])
    when = datetime.fromisoformat(task(done, "t")["attempts"][0]["outputs"]["when"])
    assert when == datetime.fromisoformat(done["created_at"])
    assert when.utcoffset() == timedelta(0)  # the workflow's timezone: UTC by default
