"""What happens inside a task's own processes, right after the fork: set up, run, exit.

The forked process is the attempt's supervisor. It leads its own session, has stdout and
stderr on the attempt's log file, becomes a child subreaper and forks the task itself. When
the task ends, or is stopped, the supervisor kills whatever the task left running (including
processes that called `setsid()` or double-forked: as orphans they come back to the
supervisor), then leaves through `os._exit` with the task's own exit status, never returning
into the fork server's loop. The fork server signals the supervisor, never the task:

  SIGTERM  pass SIGTERM on to every process of the attempt (cancel, timeout)
  SIGUSR1  SIGKILL every process of the attempt (the grace period is over)
"""

from __future__ import annotations

import importlib
import json
import linecache
import os
import resource
import signal
import sys
import time
import traceback
from typing import Any, NoReturn

from plait.executors.layout import pid_namespace, process_start_time
from plait.runner import confine, processes

SHELL = "/bin/sh"
KILL = signal.SIGUSR1  # asks the supervisor to SIGKILL its attempt's processes
RESET = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE, KILL)


def run(request: dict[str, Any]) -> NoReturn:
    """Supervise the task of `request` in a forked child. Never returns."""
    try:
        _setup(request)
        task = _fork_task(request)
    except BaseException:  # could not even start the task: report it like a task's error
        _report_failure()
        os._exit(1)
    _, status = _wait_for(task)
    processes.reap_all()
    _leave_like(status)


def _fork_task(request: dict[str, Any]) -> int:
    def forward(sig: int, _frame: object) -> None:
        processes.signal_tree(os.getpid(), signal.SIGKILL if sig == KILL else sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(KILL, forward)
    processes.become_subreaper()
    # Held until the task exists: a stop that comes sooner is forwarded to it, not lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, KILL])
    pid = os.fork()
    if pid == 0:
        _run_task(request)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, KILL])
    return pid


def _wait_for(task: int) -> tuple[int, int]:
    """Reap children (orphans re-parented here too) until the task itself has ended."""
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == task:
            return pid, status


def _leave_like(status: int) -> NoReturn:
    """Exit as the task did: with its exit code, or killed by its signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the task may have dumped; not us
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _run_task(request: dict[str, Any]) -> NoReturn:
    """The task's own process. Never returns."""
    code = 1
    try:
        for sig in RESET:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, KILL])
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
    signal.set_wakeup_fd(-1)  # the fork server's, closed below
    for sig in RESET:
        signal.signal(sig, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 1024)
    os.chdir(request["cwd"])
    if request.get("writable") is not None:  # sandboxed: writes beneath its own folders only
        confine.writes_only_beneath(request["writable"])
    os.environ.clear()
    os.environ.update(request["env"])
    # Line-buffered, so a live log shows lines as the task prints them. Never closed: the
    # process leaves through os._exit.
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.argv = [request["key"]]


def _record_pid(path: str) -> None:
    """Leave "<pid> <start time> <pid namespace>" beside the attempt, so a server that
    restarts after a crash can find and kill this process and its tree (and only those)."""
    pid = os.getpid()
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{pid} {process_start_time(pid)} {pid_namespace()}")
    os.replace(tmp, path)


def _execute(request: dict[str, Any]) -> int:
    kind, body = request["kind"], request["body"]
    if kind == "shell":
        os.execve(SHELL, [SHELL, "-c", body], os.environ)  # noqa: S606 (the task's command)
    if kind == "python":
        code = _compiled(request["key"], body)
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


def _compiled(key: str, source: str) -> Any:
    """The task's code, under a file name its traceback shows (`File "task train", line 3`)
    with the source line below it: linecache knows the text, as there is no file to read."""
    filename = f"task {key}"
    # No mtime: `linecache.checkcache` keeps the entry instead of looking for a file.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    return compile(source, filename, "exec", dont_inherit=True)


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
