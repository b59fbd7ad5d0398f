"""Process trees: finding every descendant of a process and signalling them all.

A task may start processes that leave its process group or session (`setsid`, a daemon's
double fork). They stay descendants of the task's supervisor, which is a child subreaper
(orphans are re-parented to it, not to init), so walking the tree from the supervisor finds
them all.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphaned descendants of this process become its children instead of init's."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def children(pid: int) -> list[int]:
    """Direct children of `pid` (of each of its threads), from /proc/<pid>/task/*/children."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
            found.extend(int(p) for p in f.read().split())
    return found


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, parents before their children."""
    found: list[int] = []
    todo = children(pid)
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children(current))
    return found


def signal_tree(pid: int, sig: int) -> None:
    """Send `sig` to every descendant of `pid` (not to `pid` itself)."""
    for child in descendants(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, sig)


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every descendant; its descendants first, so none is orphaned."""
    signal_tree(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    signal_tree(pid, signal.SIGKILL)  # forked meanwhile, and not yet re-parented


def reap_all() -> None:
    """Kill and reap every descendant of this (subreaper) process until none is left."""
    me = os.getpid()
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no child left, and as a subreaper no descendant either
        if pid:
            continue
        signal_tree(me, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, 0)
