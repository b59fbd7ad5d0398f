"""What a task can reach on the server's host, tried by tasks that try, through the real
executor: the server's secrets, database, environment and process stay out of reach, and
nothing a task starts outlives its attempt."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from plait.executors import sandbox
from plait.executors.local import LocalExecutor
from plait.executors.sandbox import SandboxUnavailable
from plait.settings import Settings
from tests.conftest import Account
from tests.orchestration.test_engine import py, start, task, wait
from tests.support.processes import wait_holding, wait_released

Accounts = dict[str, Account]
DB_PASSWORD = "db-password-in-the-servers-environment"
SLACK_TOKEN = "xoxb-token-in-the-servers-environment"


@pytest.fixture(autouse=True)
def server_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an attacker wants, where a real server keeps it: a signing key and a SQLite file
    in the data directory, a database password and a token in the server's environment, the
    CLI's tokens in ~/.config/plait."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.key").write_text("signing-key-of-the-server")
    (data / "plait.db").write_text("SQLite format 3 of the server")
    home = tmp_path / "home"
    (home / ".config" / "plait").mkdir(parents=True)
    (home / ".config" / "plait" / "cli.json").write_text('{"refresh_token": "cli-token"}')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PLAIT_DATABASE_URL", f"postgresql://plait:{DB_PASSWORD}@db/plait")
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)


READ_ALL = """\
import os, plait

def read(path):
    try:
        with open(path, "rb") as f:
            return f.read(100).decode("latin-1")
    except OSError:
        return None

server = {server}
data = {data}
paths = {{
    "secret.key": os.path.join(data, "secret.key"),
    "plait.db in the data dir": os.path.join(data, "plait.db"),
    "walking up from the work folder": os.path.join(os.getcwd(), *[".."] * 5, "secret.key"),
    "the database": {database},
    "the server's environ": f"/proc/{{server}}/environ",
    "the server's root": f"/proc/{{server}}/root{{data}}/secret.key",
    "the CLI's tokens": os.path.expanduser("~/.config/plait/cli.json"),
}}
seen = {{name: read(path) for name, path in paths.items()}}
seen["environment"] = {{k: v for k, v in os.environ.items()
                       if {secrets!r} & {{v}} or "SLACK" in k or k == "PLAIT_DATABASE_URL"}}
plait.set_output("seen", seen)
"""


def _database_file(settings: Settings) -> str:
    url = settings.resolved_database_url()
    return url.split("///", 1)[1] if url.startswith("sqlite") else "/nonexistent"


async def test_a_task_reads_none_of_the_servers_secrets(
    client: httpx.AsyncClient, accounts: Accounts, settings: Settings
) -> None:
    code = READ_ALL.format(
        server=os.getpid(),
        data=repr(str(settings.data_dir)),
        database=repr(_database_file(settings)),
        secrets={DB_PASSWORD, SLACK_TOKEN},
    )
    run = await start(client, accounts["editor"], [py("snoop", code)])
    done = await wait(client, accounts["editor"], run["id"])
    assert done["status"] == "succeeded", done
    seen: dict[str, Any] = task(done, "snoop")["attempts"][0]["outputs"]["seen"]
    assert seen == {
        "secret.key": None,
        "plait.db in the data dir": None,
        "walking up from the work folder": None,
        "the database": None,
        "the server's environ": None,
        "the server's root": None,
        "the CLI's tokens": None,
        "environment": {},
    }


UNCOVER = """\
import os, plait, subprocess
data = {data}
tries = [["umount", "-l", os.path.join(data, "runs")], ["umount", "-l", data],
         ["unshare", "-rm", "sh", "-c", f"umount -l {{data}}/runs; umount -l {{data}}; "
                                        f"cat {{data}}/secret.key"]]
said = [subprocess.run(t, capture_output=True, text=True).stdout for t in tries]
try:
    with open(os.path.join(data, "secret.key")) as f:
        said.append(f.read())
except OSError:
    pass
plait.set_output("said", "".join(said))
"""


async def test_a_task_cannot_unmount_its_way_to_the_hidden_data_dir(
    client: httpx.AsyncClient, accounts: Accounts, settings: Settings
) -> None:
    code = UNCOVER.format(data=repr(str(settings.data_dir)))
    run = await start(client, accounts["editor"], [py("escape", code)])
    done = await wait(client, accounts["editor"], run["id"])
    assert done["status"] == "succeeded", done
    assert task(done, "escape")["attempts"][0]["outputs"]["said"] == ""


# Three ways out of the task's process group, each holding the marker open: a child that
# starts its own session, a daemon (double fork + setsid), and a plain child.
ESCAPE = """\
import os, subprocess, time
held = os.open({marker!r}, os.O_RDONLY)
subprocess.Popen(["sleep", "60"], pass_fds=[held], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
subprocess.Popen(["sleep", "60"], pass_fds=[held])
"""


@pytest.mark.parametrize("end", ["finished", "cancelled", "timed out"])
async def test_nothing_a_task_started_outlives_its_attempt(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path, end: str
) -> None:
    marker = tmp_path / "marker"
    marker.touch()
    go = tmp_path / "go"
    code = ESCAPE.format(marker=str(marker))
    code += f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.02)\n"
    extra = {"timeout": 1} if end == "timed out" else {}
    run = await start(client, accounts["editor"], [py("spawner", code, **extra)])
    await wait_holding(marker, 4)  # the task, and what it started
    if end == "finished":
        go.touch()  # the task may end now
    if end == "cancelled":
        cancel = await client.post(
            f"/api/v1/runs/{run['id']}/cancel", headers=accounts["editor"].headers
        )
        assert cancel.status_code == 202
    done = await wait(client, accounts["editor"], run["id"])
    expected = {"finished": "succeeded", "cancelled": "cancelled", "timed out": "failed"}
    assert done["status"] == expected[end], done
    assert await wait_released(marker, within=0) == []


async def test_a_task_that_kills_its_supervisor_leaves_nothing_behind(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    """The supervisor kills what the task leaves; a task that kills the supervisor first
    leaves orphans with the fork server, which kills them."""
    marker = tmp_path / "marker"
    marker.touch()
    code = ESCAPE.format(marker=str(marker)) + "os.kill(os.getppid(), 9)\ntime.sleep(60)\n"
    run = await start(client, accounts["editor"], [py("parricide", code)])
    done = await wait(client, accounts["editor"], run["id"])
    assert done["status"] == "failed", done
    assert task(done, "parricide")["attempts"][0]["error"] == "killed by SIGKILL"
    assert await wait_released(marker, within=0) == []


async def test_the_executor_refuses_to_start_without_bubblewrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # a machine where bwrap is not installed
    assert shutil.which("bwrap") is None
    executor = LocalExecutor(Settings(data_dir=tmp_path / "data", secret_key="k" * 40))
    with pytest.raises(SandboxUnavailable) as refused:
        await executor.start(lambda _event: None)
    assert "apt-get install bubblewrap" in str(refused.value)
    assert "PLAIT_TASK_SANDBOX=off" in str(refused.value)


def test_a_python_installed_under_tmp_still_runs_in_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox's private /tmp must not hide the server's own Python (a clone in /tmp, as
    CI may make): its folders are shown again, read-only; the rest of /tmp stays hidden."""
    assert tmp_path.is_relative_to("/tmp")
    python = tmp_path / "venv" / "lib"
    python.mkdir(parents=True)
    (python / "module.py").write_text("installed = True\n")
    (tmp_path / "elsewhere.txt").write_text("another user's file in /tmp")
    monkeypatch.setattr(sandbox, "runtime_paths", lambda: [str(tmp_path / "venv")])
    settings = Settings(data_dir=tmp_path / "data", secret_key="k" * 40)
    script = f"cat {python}/module.py; cat {tmp_path}/elsewhere.txt; echo; touch {python}/x"
    seen = subprocess.run(
        sandbox.command(settings, ["/bin/sh", "-c", script]), capture_output=True, text=True
    )
    assert "installed = True" in seen.stdout
    assert "another user's file" not in seen.stdout
    assert "Read-only file system" in seen.stderr
