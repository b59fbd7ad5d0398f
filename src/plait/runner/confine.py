"""Landlock: a task writes only beneath its own folders.

The sandbox's mounts are set up once, for the fork server, so every task sees the same
writable `runs/` and `artifacts/` folders: without more, a task could rewrite another run's
outputs, logs or artifacts (a registered model's file, say). Right after the fork, before the
task runs, the attempt's process restricts itself (and so everything it starts) with Landlock,
which needs no privilege: writes are allowed beneath the paths given and nowhere else. Reading
is left as the sandbox has it.

A kernel without Landlock (before 5.13, or with it disabled) leaves the task as it was; the
executor says so once when it starts (`available()`).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

# Syscall numbers: the same on every architecture Linux added them to after 5.x.
CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

WRITE_FILE = 1 << 1
REMOVE_DIR, REMOVE_FILE = 1 << 4, 1 << 5
MAKE = sum(1 << bit for bit in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
REFER = 1 << 13  # ABI 2: links and renames across folders
TRUNCATE = 1 << 14  # ABI 3


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi() -> int:
    """The kernel's Landlock ABI version, 0 when it has none."""
    try:
        version = int(
            _libc().syscall(CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
        )
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def available() -> bool:
    return abi() > 0


def writes_only_beneath(paths: Iterable[str]) -> bool:
    """Restrict this process (and its children) to writing beneath `paths` (those that exist).
    False when the kernel cannot: the process is then as it was."""
    version = abi()
    if version == 0:
        return False
    handled = WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE
    handled |= REFER if version >= 2 else 0
    handled |= TRUNCATE if version >= 3 else 0
    libc = _libc()
    attr = ctypes.c_uint64(handled)  # struct landlock_ruleset_attr, first field only
    ruleset = libc.syscall(CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(8), 0)
    if ruleset < 0:
        return False
    try:
        for path in paths:
            _allow(libc, ruleset, path, handled)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return True


def _allow(libc: ctypes.CDLL, ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY)
    except OSError:
        return  # not there (or not a folder): nothing to allow
    try:
        rule = _PathBeneath(access, fd)
        if libc.syscall(ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path})")
    finally:
        os.close(fd)
