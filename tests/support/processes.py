"""Finding a test's task processes from outside the task sandbox.

Tasks run in their own pid namespace, so a pid a task reports means nothing here. A task
that holds a marker file open is found instead by that open file, in any namespace (and so
are the processes it starts, when they inherit the descriptor).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path


def holding(marker: Path) -> list[int]:
    """Live processes (not zombies) with `marker` open."""
    wanted = marker.stat()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                st = os.stat(f"/proc/{entry}/fd/{fd}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (wanted.st_dev, wanted.st_ino):
                found.append(int(entry))
                break
    return [pid for pid in found if is_running(pid)]


def is_running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, killed and awaiting its reaper, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


async def wait_holding(marker: Path, count: int, within: float = 15) -> list[int]:
    """The processes holding `marker`, once there are at least `count` of them."""
    deadline = time.monotonic() + within
    while len(found := await asyncio.to_thread(holding, marker)) < count:
        assert time.monotonic() < deadline, f"only {found} hold {marker} after {within} s"
        await asyncio.sleep(0.05)
    return found


async def wait_released(marker: Path, within: float = 10) -> list[int]:
    """The processes still holding `marker` after up to `within` seconds (none, hopefully)."""
    deadline = time.monotonic() + within
    while True:
        found = await asyncio.to_thread(holding, marker)
        if not found or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.05)
