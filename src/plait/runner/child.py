"""What happens inside a task's own process, right after the fork: set it up, run it, exit.

The process leads its own session (so a timeout or cancel can signal the whole group), has
stdout and stderr on the attempt's log file, and leaves through `os._exit` with the task's
exit code, never returning into the fork server's loop.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from typing import Any, NoReturn

from plait.executors.layout import process_start_time

SHELL = "/bin/sh"


def run(request: dict[str, Any]) -> NoReturn:
    """Set up the process for `request` and run its task. Never returns."""
    code = 1
    try:
        _setup(request)
        code = _execute(request)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # the task's own error: report it, never let it escape the child
        _report_failure()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _setup(request: dict[str, Any]) -> None:
    os.setsid()
    _record_pid(request["pidfile"])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 1024)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # Line-buffered, so a live log shows lines as the task prints them. Never closed: the
    # process leaves through os._exit.
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.argv = [request["key"]]


def _record_pid(path: str) -> None:
    """Leave "<pid> <start time>" beside the attempt, so a server that restarts after a crash
    can find and kill this process (and only this one)."""
    pid = os.getpid()
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{pid} {process_start_time(pid)}")
    os.replace(tmp, path)


def _execute(request: dict[str, Any]) -> int:
    kind, body = request["kind"], request["body"]
    if kind == "shell":
        os.execve(SHELL, [SHELL, "-c", body], os.environ)  # noqa: S606 (the task's command)
    if kind == "python":
        code = compile(body, f"<task {request['key']}>", "exec", dont_inherit=True)
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})  # noqa: S102 (the task)
        return 0
    module_name, _, attr = body.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    result = target()
    if result is not None:
        import plait

        plait.set_output("return", result)
    return 0


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _report_failure() -> None:
    """The traceback goes to the log; its last line becomes the attempt's error summary."""
    exc_type, exc, tb = sys.exc_info()
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # the runner's own frames say nothing about the task's error
    lines = traceback.format_exception(exc_type, exc, tb)
    sys.stderr.write("".join(lines))
    summary = "".join(lines).strip().splitlines()[-1][:1000]
    events = os.environ.get("PLAIT_EVENTS")
    if events:
        with open(events, "a", encoding="utf-8") as f:
            f.write(json.dumps({"type": "error", "message": summary, "ts": time.time()}) + "\n")
