"""The fork server: a warm Python process that forks one child per task attempt.

Starting a task by `fork` from a process that has already imported Python, Plait and any
modules named in PLAIT_PRELOAD costs about a millisecond; a cold interpreter costs tens.
The server talks to it over stdin/stdout in JSON lines:

  in:  {"op": "spawn", "attempt_id": 7, "kind": "python", "body": "...", "cwd": ..., "log": ...,
        "env": {...}, "key": "train"}
       {"op": "signal", "attempt_id": 7, "signal": "term"}  ("term": SIGTERM to every process
        of the attempt; "kill": SIGKILL to every one)
  out: {"op": "ready"}  (once, when it is warm)
       {"op": "started", "attempt_id": 7, "pid": 4242}
       {"op": "exited", "attempt_id": 7, "pid": 4242, "exit_code": 0}  (< 0: killed by a signal)
       {"op": "error", "attempt_id": 7, "message": "..."}  (could not fork)

It is single-threaded (forking is safe), and exits when its stdin closes: when the server
goes, it goes (after recording the exits of children that already ended). Each child
supervises one attempt (runner/child.py) and kills what its task leaves behind; the fork
server is a subreaper too, so the processes of a supervisor that died (a task can kill it)
come back here and are killed. In the task sandbox (a pid namespace) whatever is left dies
with the fork server; outside it, with the server's recovery. Pids are those of the fork
server's pid namespace. Every exit it reaps is written to an `exit` file in the attempt's
folder before it is reported, so a server that crashes before applying it still finds the
attempt's outcome on restart instead of running it again.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import sys
from typing import Any

import plait  # noqa: F401  (warm: every task may import it)
from plait.executors.layout import EXITFILE
from plait.runner import child, processes


def main() -> None:
    for name in filter(None, os.environ.get("PLAIT_PRELOAD", "").split(",")):
        try:
            importlib.import_module(name.strip())
        except ImportError as exc:
            _send({"op": "warning", "message": f"could not preload {name}: {exc}"})
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the server
    processes.become_subreaper()
    children: dict[int, tuple[int, str]] = {}  # pid -> attempt id, its folder
    _send({"op": "ready"})
    stdin = sys.stdin.buffer
    buffer = b""
    while True:
        ready, _, _ = select.select([stdin, wake_r], [], [])
        before = set(children)
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(children)
        if stdin in ready:
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:
                _reap(children)  # what already ended is recorded before leaving
                return  # the server is gone
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    _handle(json.loads(line), children)
        _reap(children)
        if before - children.keys():  # an attempt ended
            _kill_strays(children)


def _handle(request: dict[str, Any], children: dict[int, tuple[int, str]]) -> None:
    if request["op"] == "signal":
        _signal(request, children)
    else:
        _spawn(request, children)


def _signal(request: dict[str, Any], children: dict[int, tuple[int, str]]) -> None:
    """Ask the attempt's supervisor to signal its processes (it knows them all)."""
    sig = child.KILL if request["signal"] == "kill" else signal.SIGTERM
    for pid, (attempt_id, _folder) in children.items():
        if attempt_id == request["attempt_id"]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _kill_strays(children: dict[int, tuple[int, str]]) -> None:
    """Kill the processes of supervisors that died before them (re-parented here)."""
    for pid in processes.children(os.getpid()):
        if pid not in children:
            processes.kill_tree(pid)


def _spawn(request: dict[str, Any], children: dict[int, tuple[int, str]]) -> None:
    attempt_id = request["attempt_id"]
    try:
        pid = os.fork()
    except OSError as exc:
        _send({"op": "error", "attempt_id": attempt_id, "message": f"fork failed: {exc}"})
        return
    if pid == 0:
        child.run(request)
    children[pid] = (attempt_id, os.path.dirname(request["pidfile"]))
    _send({"op": "started", "attempt_id": attempt_id, "pid": pid})


def _reap(children: dict[int, tuple[int, str]]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        child_of = children.pop(pid, None)
        if child_of is not None:
            attempt_id, folder = child_of
            code = os.waitstatus_to_exitcode(status)
            _record_exit(folder, code)
            with contextlib.suppress(BrokenPipeError):  # the server is gone: the file tells
                _send({"op": "exited", "attempt_id": attempt_id, "pid": pid, "exit_code": code})


def _record_exit(folder: str, code: int) -> None:
    """Write `exit` atomically (a crash leaves the whole file or none), before the report."""
    path = os.path.join(folder, EXITFILE)
    try:
        with open(f"{path}.tmp", "w") as f:
            json.dump({"exit_code": code}, f)
        os.replace(f"{path}.tmp", path)
    except OSError as exc:  # the folder was removed: the exit is still reported
        with contextlib.suppress(BrokenPipeError):
            _send({"op": "warning", "message": f"could not record an exit in {folder}: {exc}"})


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
