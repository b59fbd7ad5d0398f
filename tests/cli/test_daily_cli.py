"""The commands of daily use against the real server, each in its own process: `--output
json|yaml` parsed back, plain tables when piped, `--version` and `-h`, which server a command
talks to, workflows' schedules, versions, hooks, users, notifications, metrics, artifacts and
retries told while watching."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from plait import __version__
from tests.cli.conftest import CLI_TIMEOUT, Cli, Plait, clean_env, free_port, plait_command

pytestmark = pytest.mark.slow

SCHEDULED = """\
name: {name}
schedule: "0 6 * * *"
timezone: Europe/Berlin
params:
  lr: {{type: number, default: 0.1}}
tasks:
  - key: fit
    kind: shell
    command: {command}
"""


def apply(live: Plait, tmp_path: Path, text: str) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    live.cli.ok("apply", "-f", str(path))


def as_json(cli: Cli, *args: str, input: str | None = None) -> Any:
    return json.loads(cli.ok(*args, "-o", "json", input=input))


def table(stdout: str) -> list[dict[str, str]]:
    """A piped table read back: a header line, then a line per row, cells split by tabs."""
    header, *rows = [line.split("\t") for line in stdout.splitlines()]
    assert all(len(row) == len(header) for row in rows), stdout
    return [dict(zip(header, row, strict=True)) for row in rows]


def plait(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`plait` with no PLAIT_URL unless given: the server is the one it remembers."""
    return subprocess.run(
        [*plait_command(), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT,
        env=clean_env(PLAIT_CLI_CONFIG=str(config), **env), check=False,
    )  # fmt: skip


# 1. Version, help, output formats --------------------------------------------------------------


def test_version_and_short_help(live: Plait) -> None:
    assert live.cli.ok("--version") == f"plait {__version__}\n"
    for args in (["-h"], ["runs", "list", "-h"], ["workflows", "-h"], ["backfill", "-h"]):
        assert "Usage: plait" in live.cli.ok(*args), args
    assert "Usage: plait runs list" in live.cli.ok("runs", "list", "--help")


def test_json_and_yaml_are_the_api_answer_alone(live: Plait) -> None:
    api = live.http.get("/api/v1/workflows", params={"limit": 50}).json()
    assert as_json(live.cli, "workflows", "list") == json.loads(json.dumps(api))
    as_yaml = yaml.safe_load(live.cli.ok("workflows", "list", "-o", "yaml"))
    assert as_yaml == as_json(live.cli, "workflows", "list")
    shown = as_json(live.cli, "workflows", "show", "iris-pipeline")
    assert shown == live.http.get("/api/v1/workflows/iris-pipeline").json()
    assert "Invalid value for '--output'" in live.cli.fails("workflows", "list", "-o", "xml")


def test_piped_tables_are_plain_tab_separated_lines(live: Plait) -> None:
    stdout = live.cli.ok("workflows", "list")
    assert not re.search(r"[│┃━─]", stdout), "no box drawing when piped"
    rows = table(stdout)
    assert any(r["name"] == "iris-pipeline" for r in rows), rows


# 2. Which server: --url > PLAIT_URL > the last login > the default -----------------------------


def test_the_server_is_url_then_env_then_the_remembered_login(live: Plait, tmp_path: Path) -> None:
    config = tmp_path / "cli.json"
    down = f"http://127.0.0.1:{free_port()}"
    Cli(live.server.url, config).login("cli-admin-password-1")
    remembered = plait(config, "workflows", "list", "-o", "json")
    assert remembered.returncode == 0, remembered.stderr
    assert json.loads(remembered.stdout)["items"], "no --url, no PLAIT_URL: the login's server"

    by_env = plait(config, "workflows", "list", PLAIT_URL=down)
    assert f"cannot reach the Plait server at {down}" in by_env.stderr, "PLAIT_URL beats memory"
    by_option = plait(config, "--url", live.server.url, "workflows", "list", PLAIT_URL=down)
    assert by_option.returncode == 0, by_option.stderr
    by_option = plait(config, "--url", down, "workflows", "list")
    assert f"cannot reach the Plait server at {down}" in by_option.stderr


def test_a_login_elsewhere_keeps_this_servers_tokens(live: Plait, tmp_path: Path) -> None:
    config = tmp_path / "cli.json"
    Cli(live.server.url, config).login("cli-admin-password-1")
    other = f"http://127.0.0.1:{free_port()}"
    failed = plait(config, "login", "--url", other, "--password-stdin", "--username", "admin")
    assert failed.returncode == 1 and "cannot reach" in failed.stderr
    again = plait(config, "--url", live.server.url, "users", "me")
    assert again.stdout.startswith("admin (admin, id "), again.stderr
    assert json.loads(config.read_text())["current"] == live.server.url


# 3. Workflows: schedule in its timezone, pause, resume, versions, diff, restore ----------------


def test_schedules_read_in_the_workflows_timezone_and_not_while_paused(
    live: Plait, tmp_path: Path
) -> None:
    name = "berlin-daily"
    apply(live, tmp_path, SCHEDULED.format(name=name, command="echo fit"))
    row = next(r for r in table(live.cli.ok("workflows", "list")) if r["name"] == name)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d 06:00 CES?T", row["next run"]), row
    shown = live.cli.ok("workflows", "show", name)
    assert len(re.findall(r"^  next run: \S+ 06:00 CES?T$", shown, re.M)) == 3, shown

    assert live.cli.ok("workflows", "pause", name) == f"paused {name}\n"
    row = next(r for r in table(live.cli.ok("workflows", "list")) if r["name"] == name)
    assert (row["paused"], row["next run"]) == ("yes", "")
    shown = live.cli.ok("workflows", "show", name)
    assert "next run" not in shown and "no scheduled runs while paused" in shown
    resumed = live.cli.ok("workflows", "resume", name)
    assert re.fullmatch(rf"resumed {name}\n  next run: \S+ 06:00 CES?T\n", resumed), resumed
    assert as_json(live.cli, "workflows", "show", name)["paused"] is False


def test_versions_diff_and_restore(live: Plait, tmp_path: Path) -> None:
    name = "versioned"
    apply(live, tmp_path, SCHEDULED.format(name=name, command="echo one"))
    apply(live, tmp_path, SCHEDULED.format(name=name, command="echo two"))
    versions = as_json(live.cli, "workflows", "versions", name)
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert [r["version"] for r in table(live.cli.ok("workflows", "versions", name))] == ["2", "1"]
    assert "~ task fit: command" in live.cli.ok("workflows", "diff", name, "1")
    diff = as_json(live.cli, "workflows", "diff", name, "1", "2")
    assert list(diff["tasks"]["changed"]) == ["fit"] and list(diff["tasks"]["changed"]["fit"]) == [
        "command"
    ]

    restored = live.cli.ok("workflows", "restore", name, "1")
    assert restored == f"restored version 1 of {name} as version 3\n"
    assert "versions 1 and 3 are the same" in live.cli.ok("workflows", "diff", name, "1")
    assert f"workflow '{name}' has no version 9" in live.cli.fails(
        "workflows", "restore", name, "9"
    )


# 4. Hooks, users, notifications ----------------------------------------------------------------


def test_hooks_create_list_disable_and_delete(live: Plait, tmp_path: Path) -> None:
    name = "hooked"
    apply(live, tmp_path, SCHEDULED.format(name=name, command="echo hooked"))
    problem = live.cli.fails("hooks", "create", name, "ci", "-p", "epochs=/epochs")
    assert "has no param 'epochs'" in problem
    assert "did you mean 'lr'?" in live.cli.fails("hooks", "create", name, "ci", "-p", "Lr=/lr")
    created = as_json(live.cli, "hooks", "create", name, "ci", "-p", "lr=/config/lr")
    assert created["url"] == f"{live.server.url}/api/v1/hooks/{created['public_id']}"
    assert created["secret"] and created["token"] and created["params"] == {"lr": "/config/lr"}
    listed = table(live.cli.ok("hooks", "list", name))
    assert [(r["id"], r["enabled"], r["url"]) for r in listed] == [
        (str(created["id"]), "yes", created["url"])
    ]
    assert "disabled" in live.cli.ok("hooks", "disable", name, str(created["id"]))
    assert as_json(live.cli, "hooks", "list", name)[0]["enabled"] is False
    assert f"deleted hook {created['id']}" in live.cli.ok(
        "hooks", "delete", name, str(created["id"]), "--yes"
    )
    assert live.cli.ok("hooks", "list", name) == "no hooks\n"


def test_users_create_role_deactivate_and_delete(live: Plait) -> None:
    made = as_json(live.cli, "users", "create", "dana", "--role", "editor", "--password-stdin",
                   input="dana-password-123\n")  # fmt: skip
    assert (made["username"], made["role"], made["is_active"]) == ("dana", "editor", True)
    dana = Cli(live.server.url, live.cli.config.with_name("dana.json"))
    assert "as dana (editor)" in dana.login("dana-password-123", username="dana")
    assert "needs the admin role; you are editor" in dana.fails("users", "list")

    assert live.cli.ok("users", "set-role", "dana", "viewer") == "dana is now viewer\n"
    assert "deactivated dana" in live.cli.ok("users", "deactivate", "dana")
    row = next(r for r in table(live.cli.ok("users", "list")) if r["username"] == "dana")
    assert (row["role"], row["active"]) == ("viewer", "no")
    assert "run `plait login`" in dana.fails("users", "me")
    assert "no user 'nobody'" in live.cli.fails("users", "set-role", "nobody", "admin")
    assert "deleted user dana" in live.cli.ok("users", "delete", "dana", "--yes")


def test_channels_and_rules(live: Plait) -> None:
    channel = as_json(live.cli, "channels", "create", "ops", "--kind", "webhook",
                      "-c", "url=http://127.0.0.1:9/hook", "--secret-stdin",
                      input="a-signing-key-of-some-length\n")  # fmt: skip
    assert channel["has_secret"] and channel["config"] == {"url": "http://127.0.0.1:9/hook"}
    assert "a-signing-key" not in live.cli.ok("channels", "show", "ops")
    rule = as_json(live.cli, "rules", "create", "failures", "--channel", "ops",
                   "-e", "run.failed", "-e", "task.retrying", "--tag", "nightly")  # fmt: skip
    assert (rule["channel_id"], rule["scope"], rule["scope_value"]) == (
        channel["id"],
        "tag",
        "nightly",
    )
    assert rule["events"] == ["run.failed", "task.retrying"]
    listed = table(live.cli.ok("rules", "list", "--channel", "ops"))
    assert [(r["name"], r["scope"], r["events"]) for r in listed] == [
        ("failures", "tag nightly", "run.failed,task.retrying")
    ]
    assert as_json(live.cli, "rules", "disable", str(rule["id"]))["enabled"] is False
    tested = live.cli.run("channels", "test", "ops")
    assert tested.returncode == 1 and "not sent" in tested.stderr, tested.stdout
    tried = table(live.cli.ok("channels", "deliveries", "--channel", "ops"))
    assert [(r["channel"], r["event"]) for r in tried] == [(str(channel["id"]), "test")]
    assert tried[0]["status"] != "sent" and tried[0]["error"], tried
    assert "deleted channel ops" in live.cli.ok("channels", "delete", "ops", "--yes")
    assert "no channel 'ops'" in live.cli.fails("channels", "show", "ops")


# 5. Metrics, artifacts, retries told while watching --------------------------------------------

RESULTS = """\
name: {name}
tasks:
  - key: train
    kind: python
    retries: 2
    retry_delay: 0
    code: |
      import os, plait
      attempt = int(os.environ["PLAIT_ATTEMPT"])
      if attempt < 3:
          raise RuntimeError(f"flaky {{attempt}}")
      for step in range(3):
          plait.log_metric("loss", 1.0 / (step + 1), step=step)
      with open("model.txt", "w") as f:
          f.write("weights")
      plait.log_artifact("model.txt")
"""


@pytest.fixture(scope="module")
def trained(live: Plait, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str]:
    """A run whose task failed twice, then logged metrics and an artifact: (id, stdout)."""
    tmp = tmp_path_factory.mktemp("trained")
    apply(live, tmp, RESULTS.format(name="trained"))
    stdout = live.cli.ok("run", "trained", "--watch")
    found = re.search(r"^started run (\d+) ", stdout, re.M)
    assert found, stdout
    return int(found.group(1)), stdout


def test_watch_tells_each_failed_attempt_before_its_retry(trained: tuple[int, str]) -> None:
    rid, stdout = trained
    first = "train attempt 1 failed: RuntimeError: flaky 1 — retrying (attempt 2 of 3)"
    second = "train attempt 2 failed: RuntimeError: flaky 2 — retrying (attempt 3 of 3)"
    assert first in stdout and second in stdout, stdout
    assert stdout.index(first) < stdout.index(second) < stdout.index("task train succeeded")
    assert re.search(rf"^run {rid} succeeded in \S+, after 2 retries$", stdout, re.M), stdout


def test_run_metrics_artifacts_and_download(
    live: Plait, trained: tuple[int, str], tmp_path: Path
) -> None:
    rid, _ = trained
    metrics = as_json(live.cli, "runs", "metrics", str(rid))
    assert [(m["key"], m["step"], m["value"]) for m in metrics] == [
        ("loss", 0, 1.0), ("loss", 1, 0.5), ("loss", 2, pytest.approx(1 / 3))
    ]  # fmt: skip
    rows = table(live.cli.ok("runs", "metrics", str(rid), "--key", "loss"))
    assert [(r["step"], r["value"]) for r in rows] == [("0", "1"), ("1", "0.5"), ("2", "0.333333")]

    artifacts = as_json(live.cli, "runs", "artifacts", str(rid))
    assert [(a["name"], a["attempt"]) for a in artifacts] == [("model.txt", 3)]
    assert table(live.cli.ok("runs", "artifacts", str(rid)))[0]["size"] == "7 B"
    done = live.cli.run("runs", "download", str(rid), "model.txt", "--to", str(tmp_path))
    assert done.returncode == 0 and f"wrote {tmp_path / 'model.txt'}" in done.stderr
    assert (tmp_path / "model.txt").read_text() == "weights"
    by_id = live.cli.ok("runs", "download", str(rid), str(artifacts[0]["id"]), "--to", "-")
    assert by_id == "weights"
    assert "has no artifact 'nope' (it has: model.txt)" in live.cli.fails(
        "runs", "download", str(rid), "nope"
    )


def test_run_output_json_with_watch_is_the_ended_run(live: Plait, trained: Any) -> None:
    run = as_json(live.cli, "run", "trained", "--watch")
    assert run["status"] == "succeeded"
    assert [a["status"] for a in run["tasks"][0]["attempts"]][-1] == "succeeded"
    again = as_json(live.cli, "runs", "rerun", str(run["id"]), "--watch")
    assert (again["rerun_of"], again["status"]) == (run["id"], "succeeded")


# 6. Progress while watching, backfills ---------------------------------------------------------

PROGRESS = """\
name: {name}
tasks:
  - key: slow
    kind: python
    code: |
      import time, plait
      plait.progress(0.5, "half way")
      time.sleep(4)
"""


def test_watch_shows_the_progress_a_task_reports(live: Plait, tmp_path: Path) -> None:
    apply(live, tmp_path, PROGRESS.format(name="progressing"))
    stdout = live.cli.ok("run", "progressing", "--watch")
    assert re.search(r"task slow 50% half way(, about \S+ left)?$", stdout, re.M), stdout
    assert "task slow succeeded" in stdout


def test_backfill_runs_each_fire_time_once_and_lists_them(live: Plait, tmp_path: Path) -> None:
    apply(live, tmp_path, SCHEDULED.format(name="daily", command="echo day"))
    window = ("--from", "2026-03-01", "--to", "2026-03-03")
    done = live.cli.run("backfill", "daily", *window, "--max-parallel", "2", "--watch")
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(
        r"^started backfill (\d+) of daily: 3 run\(s\), 2 at a time$", done.stdout, re.M
    )
    assert found, done.stdout
    bid = found.group(1)
    assert done.stdout.rstrip().endswith(f"backfill {bid} succeeded"), done.stdout

    shown = as_json(live.cli, "backfills", "show", bid)
    assert [r["status"] for r in shown["runs"]] == ["succeeded"] * 3
    fire_times = live.cli.ok("backfills", "show", bid)
    for day in ("01", "02", "03"):
        assert f"2026-03-{day} 06:00 CET\tsucceeded" in fire_times, fire_times
    made = as_json(live.cli, "runs", "list", "--workflow", "daily", "--trigger", "backfill")
    assert sorted(r["id"] for r in made["items"]) == sorted(r["id"] for r in shown["runs"])
    rows = table(live.cli.ok("backfills", "list", "daily"))
    assert [(r["id"], r["status"], r["runs"]) for r in rows] == [(bid, "succeeded", "3")]

    again = as_json(live.cli, "backfill", "daily", *window)
    assert again["total"] == 0 and len(again["skipped"]) == 3, "each fire time runs once"
    assert "has no failed or cancelled runs to retry" in live.cli.fails("backfills", "retry", bid)
    apply(live, tmp_path, PROGRESS.format(name="unscheduled"))
    problem = live.cli.fails("backfill", "unscheduled", *window)
    assert "has no recurring schedule" in problem
