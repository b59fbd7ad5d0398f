"""`plait run` and `plait runs ...` against the real server, as a person would use them: start
a run and watch it end, read what went wrong, its logs and outputs, stop a run that hangs, and
resume one that failed."""

from __future__ import annotations

import os
import pty
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import typer

from plait.cli.common import param_value, parse_pairs
from tests.cli.conftest import Cli, Plait, clean_env, plait_command

PIPELINE = """\
name: {name}
params:
  n: {{type: integer, default: 2}}
  shout: {{type: boolean, default: false}}
  word: {{type: string, default: hi}}
tasks:
  - key: make
    kind: python
    code: |
      import plait
      p = plait.params()
      print(f"making {{p['n']}}")
      plait.set_output("n", p["n"] * 10)
      plait.set_output("word", p["word"].upper() if p["shout"] else p["word"])
  - key: use
    kind: python
    depends_on: [make]
    code: |
      import plait
      made = plait.inputs()["make"]
      print("using", made["word"])
      plait.set_output("total", made["n"] + 1)
"""

FAILING = """\
name: {name}
tasks:
  - key: boom
    kind: python
    code: |
      print("about to fail")
      raise ValueError("the data is bad")
  - key: after
    kind: python
    depends_on: [boom]
    code: print("never printed")
"""

SLEEPER = """\
name: {name}
tasks:
  - key: nap
    kind: python
    code: |
      import time
      print("napping", flush=True)
      time.sleep(30)
"""

WAIT = 15.0


def apply(live: Plait, tmp_path: Path, template: str, name: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(template.format(name=name), encoding="utf-8")
    live.cli.ok("apply", "-f", str(path))
    return name


def run_id(stdout: str) -> int:
    found = re.search(r"^started run (\d+) of ", stdout, flags=re.MULTILINE)
    assert found, stdout
    return int(found.group(1))


def run_status(live: Plait, rid: int) -> str:
    response = live.http.get(f"/api/v1/runs/{rid}")
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def wait_for_status(live: Plait, rid: int, wanted: str) -> None:
    deadline = time.monotonic() + WAIT
    while (status := run_status(live, rid)) != wanted:
        assert time.monotonic() < deadline, f"run {rid} is {status}, not {wanted}"
        time.sleep(0.1)


class Background:
    """A `plait` command left running, its stdout read line by line on a thread so that a test
    can wait for a line without blocking for ever."""

    def __init__(self, cli: Cli, *args: str) -> None:
        env = clean_env(PLAIT_CLI_CONFIG=str(cli.config), PLAIT_URL=cli.url)
        self.process = subprocess.Popen(
            [*plait_command(), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            # A shell may start background jobs with SIGINT ignored, and Python keeps it so:
            # give it the default back, so that Python turns it into KeyboardInterrupt.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stdout is not None
        self.reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} in:\n{''.join(self.seen)}")

    def finish(self) -> tuple[int, str, str]:
        """Exit status, the stdout not read yet, and stderr."""
        assert self.process.stderr is not None
        code = self.process.wait(timeout=WAIT)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return code, "".join(self.seen + rest), self.process.stderr.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.reader.join(timeout=WAIT)  # at EOF now: its pipe can be closed under it
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def background() -> Iterator[list[Background]]:
    """Commands a test leaves running; killed if the test fails before they end."""
    started: list[Background] = []
    yield started
    for command in started:
        command.stop()


@pytest.fixture(scope="module")
def pipeline(live: Plait, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int, str]:
    """The pipeline applied and one run of it watched to the end: (name, run id, stdout)."""
    name = apply(live, tmp_path_factory.mktemp("wf"), PIPELINE, "pipeline")
    stdout = live.cli.ok(
        "run", name, "-p", "n=5", "-p", "shout=true", "-p", "word=hello",
        "--description", "nightly [bold]check[/bold]", "--watch",
    )  # fmt: skip
    return name, run_id(stdout), stdout


# 1. Params as JSON when they are JSON ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("5", 5),
        ("0.5", 0.5),
        ("true", True),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ('"5"', "5"),
        ("hello", "hello"),
        ("", ""),
        ("a=b", "a=b"),
        ("NaN", "NaN"),
        ("1e999", "1e999"),
        ("[1, Infinity]", "[1, Infinity]"),
    ],
)
def test_param_values_are_json_when_they_parse(raw: str, value: Any) -> None:
    assert param_value(raw) == value
    assert type(param_value(raw)) is type(value)


def test_params_must_be_key_value_pairs_given_once() -> None:
    assert parse_pairs(["n=5", "s=x=y"]) == {"n": 5, "s": "x=y"}
    for bad in (["n"], ["=5"], ["n=1", "n=2"]):
        with pytest.raises(typer.BadParameter):
            parse_pairs(bad)


# 2. Run and watch ------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_watch_follows_the_run_to_success(pipeline: tuple[str, int, str]) -> None:
    _, rid, stdout = pipeline
    assert re.search(rf"^started run {rid} of pipeline: (queued|running|succeeded)$", stdout, re.M)
    assert re.search(r"task make succeeded \(attempt 1, [\d.]+s\)", stdout), stdout
    assert re.search(r"task use succeeded \(attempt 1, [\d.]+s\)", stdout), stdout
    assert stdout.rstrip().splitlines()[-1].startswith(f"run {rid} succeeded in ")
    assert "\x1b[" not in stdout, "piped output has no animation or colour"


@pytest.mark.slow
def test_run_without_watch_prints_the_run_and_returns(live: Plait, pipeline: Any) -> None:
    stdout = live.cli.ok("run", pipeline[0], "--idempotency-key", "nightly-1")
    rid = run_id(stdout)
    # The server answers once the scheduler is woken: the run may have started already.
    assert re.fullmatch(rf"started run {rid} of pipeline: (queued|running|succeeded)\n", stdout)
    again = live.cli.ok("run", pipeline[0], "--idempotency-key", "nightly-1")
    assert again.startswith(f"run {rid} of pipeline was already started with this key: ")
    wait_for_status(live, rid, "succeeded")


@pytest.mark.slow
def test_run_watch_on_a_terminal_draws_a_live_table(live: Plait, pipeline: Any) -> None:
    env = clean_env(PLAIT_CLI_CONFIG=str(live.cli.config), PLAIT_URL=live.cli.url,
                    TERM="xterm-256color", COLUMNS="100")  # fmt: skip
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*plait_command(), "run", pipeline[0], "--watch"],
        stdin=secondary, stdout=secondary, stderr=secondary, env=env,
    )  # fmt: skip
    os.close(secondary)
    screen = b""
    while chunk := _read_pty(primary):
        screen += chunk
    os.close(primary)
    assert process.wait(timeout=WAIT) == 0, screen
    text = screen.decode()
    assert "\x1b[?25l" in text, "the cursor is hidden while the table is redrawn"
    assert re.search(r"make\s+succeeded\s+1", text) and re.search(r"use\s+succeeded\s+1", text)
    assert re.search(r"run \d+ succeeded in ", text), text


def _read_pty(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the command has exited and closed the terminal
        return b""


@pytest.mark.slow
def test_a_failed_run_exits_1_with_the_error_line(live: Plait, tmp_path: Path) -> None:
    name = apply(live, tmp_path, FAILING, "failing")
    done = live.cli.run("run", name, "--watch")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    rid = run_id(done.stdout)
    assert "  boom failed (attempt 1): ValueError: the data is bad" in done.stdout
    assert "  after upstream_failed" in done.stdout
    assert f"plait runs logs {rid} boom" in done.stdout

    logs = live.cli.ok("runs", "logs", str(rid), "boom")
    assert logs.startswith("about to fail\n") and "ValueError: the data is bad" in logs

    retried = live.cli.ok("runs", "retry", str(rid))
    assert "2 task(s) run again" in retried
    assert "  boom (was failed) attempt 2" in retried
    assert "  after (was upstream_failed) attempt 2" in retried
    again = live.cli.run("runs", "watch", str(rid))
    assert again.returncode == 1 and "boom failed (attempt 2)" in again.stdout, again.stdout


@pytest.mark.slow
def test_a_param_of_the_wrong_type_names_the_field(live: Plait, pipeline: Any) -> None:
    before = live.http.get("/api/v1/runs").json()["items"][0]["id"]
    problem = live.cli.fails("run", pipeline[0], "-p", "n=abc")
    assert "error: 1 problem in the input" in problem
    assert "  params.n: expected integer, got string" in problem
    assert "'n' is not KEY=VALUE" in live.cli.fails("run", pipeline[0], "-p", "n")
    assert live.http.get("/api/v1/runs").json()["items"][0]["id"] == before, "no run started"


# 3. List, show, logs, rerun --------------------------------------------------------------------


@pytest.mark.slow
def test_runs_list_shows_the_run(live: Plait, pipeline: tuple[str, int, str]) -> None:
    name, rid, _ = pipeline
    listing = live.cli.ok("runs", "list", "--workflow", name, "--status", "succeeded")
    header, *rows = [line.split("\t") for line in listing.splitlines()]
    assert header[:4] == ["id", "workflow", "version", "status"], "piped: a plain table"
    row = next(row for row in rows if row[0] == str(rid))
    assert row[1] == name and row[3:6] == ["succeeded", "manual", "admin"], row
    more = live.cli.run("runs", "list", "--workflow", name, "--limit", "1")
    assert len(more.stdout.splitlines()) == 2, "the header and one run: the hint is on stderr"
    assert re.search(
        rf"more: plait runs list --workflow {name} --limit 1 --cursor \S+", more.stderr
    )
    problem = live.cli.fails("runs", "list", "--status", "bogus")
    assert "query.status: Input should be 'queued'" in problem


@pytest.mark.slow
def test_runs_show_has_params_attempts_and_outputs(live: Plait, pipeline: Any) -> None:
    _, rid, _ = pipeline
    shown = live.cli.ok("runs", "show", str(rid))
    assert shown.startswith(f"run {rid}  pipeline  succeeded  ")
    assert '  params {"n": 5, "shout": true, "word": "hello"}' in shown
    assert "  description nightly [bold]check[/bold]" in shown, "markup is shown, not applied"
    assert re.search(
        r"^make\t1\tsucceeded\t[^\t]+\t0\t\t\{\"n\": 50, \"word\": \"HELLO\"\}$", shown, re.M
    )
    assert '{"total": 51}' in shown
    assert "no run 999999" in live.cli.fails("runs", "show", "999999")


@pytest.mark.slow
def test_runs_logs_prints_what_the_task_printed(live: Plait, pipeline: Any) -> None:
    _, rid, _ = pipeline
    assert live.cli.ok("runs", "logs", str(rid), "make") == "making 5\n"
    assert live.cli.ok("runs", "logs", str(rid), "use", "--attempt", "1") == "using HELLO\n"
    assert live.cli.ok("runs", "logs", str(rid), "use", "--follow") == "using HELLO\n"
    assert f"run {rid} has no task 'nope'" in live.cli.fails("runs", "logs", str(rid), "nope")


@pytest.mark.slow
def test_rerun_starts_a_new_run_with_the_same_params(live: Plait, pipeline: Any) -> None:
    _, rid, _ = pipeline
    stdout = live.cli.ok("runs", "rerun", str(rid), "--watch")
    new = run_id(stdout)
    assert f"started run {new} of pipeline (rerun of run {rid})" in stdout
    assert f"run {new} succeeded" in stdout
    assert '"word": "HELLO"' in live.cli.ok("runs", "show", str(new))
    problem = live.cli.fails("runs", "retry", str(rid))
    assert f"run {rid} succeeded: retry runs again only what failed or was cancelled" in problem
    assert f"rerun it: `plait runs rerun {rid}` (POST /api/v1/runs/{rid}/rerun)" in problem


@pytest.mark.slow
def test_pin_and_unpin_a_run(live: Plait, pipeline: Any) -> None:
    _, rid, _ = pipeline
    assert live.cli.ok("runs", "pin", str(rid)).strip() == f"run {rid} pinned: retention keeps it"
    assert live.http.get(f"/api/v1/runs/{rid}").json()["pinned"] is True
    assert live.cli.ok("runs", "unpin", str(rid), "-o", "json").count('"pinned": false') == 1
    assert live.http.get(f"/api/v1/runs/{rid}").json()["pinned"] is False


# 4. Stop watching, follow a log, cancel --------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_stops_watching_and_cancel_stops_the_run(
    live: Plait, tmp_path: Path, background: list[Background]
) -> None:
    name = apply(live, tmp_path, SLEEPER, "sleeper")
    watcher = Background(live.cli, "run", name, "--watch")
    background.append(watcher)
    rid = run_id(watcher.wait_for("started run "))
    watcher.wait_for("task nap running")
    follower = Background(live.cli, "runs", "logs", str(rid), "nap", "--follow")
    background.append(follower)
    follower.wait_for("napping")

    watcher.process.send_signal(signal.SIGINT)
    code, _, stderr = watcher.finish()
    assert code == 130, stderr
    assert f"stopped watching; run {rid} goes on" in stderr
    assert f"cancel it: plait runs cancel {rid}" in stderr and "Traceback" not in stderr
    assert run_status(live, rid) == "running"

    assert f"cancel requested for run {rid}" in live.cli.ok("runs", "cancel", str(rid))
    wait_for_status(live, rid, "cancelled")
    code, stdout, stderr = follower.finish()
    assert (code, stdout) == (0, "napping\n"), stderr
    shown = live.cli.ok("runs", "show", str(rid))
    assert re.search(r"^nap\t1\tcancelled\t[^\t]*\tSIGTERM\t", shown, re.M), "a signal by name"
    assert "nothing to cancel" in live.cli.fails("runs", "cancel", str(rid))
