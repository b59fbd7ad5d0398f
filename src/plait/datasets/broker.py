"""Answering a task's dataset requests (plait.dataset, plait.log_dataset).

A task has no network address and no database: the SDK appends a request record to its
events file and waits for a reply file in its `replies/` folder. The executor reads the
record and hands it to `TaskDatasets`, which resolves it through a `Source` (the server's
database and artifact store here; the execution API on a remote worker), makes sure the
bytes are in this host's cache, and writes the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from plait.datasets.cache import HostCache
from plait.errors import PlaitError
from plait.executors.base import Dispatch
from plait.executors.reports import DatasetLog, DatasetRequest

log = logging.getLogger("plait.datasets")
REPLIES = "replies"
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Resolved:
    """A version as a task reads it."""

    version_id: int
    name: str
    version: int
    filename: str
    checksum: str | None
    stored_key: str | None
    uri: str | None


class Source(Protocol):
    async def resolve(self, job: Dispatch, name: str, version: int | None) -> Resolved:
        """The version (newest when None), with the attempt's read recorded."""
        ...

    def fetch(self, resolved: Resolved) -> AsyncIterator[bytes]:
        """Its bytes, from wherever they are kept."""
        ...

    async def learnt(self, resolved: Resolved, checksum: str) -> None:
        """A version registered without a checksum: what its bytes hash to, once fetched."""
        ...

    async def log(self, job: Dispatch, ask: DatasetLog, filename: str,
                  chunks: AsyncIterator[bytes]) -> int:  # fmt: skip
        """Keeps `chunks` as the next version of `ask.name` written by the attempt; its
        number."""
        ...


class TaskDatasets:
    """The executor's side of the request/reply: one per executor (so one cache per host
    and process)."""

    def __init__(self, source: Source, data_dir: Path, cache: HostCache) -> None:
        self.source = source
        self.data_dir = data_dir
        self.cache = cache

    async def answer(self, job: Dispatch, folder: Path, ask: DatasetRequest | DatasetLog) -> None:
        """Replies to `ask` of the attempt whose own folder is `folder`; never raises."""
        try:
            if isinstance(ask, DatasetRequest):
                reply = await self._read(job, ask)
            else:
                reply = await self._write(job, folder, ask)
        except PlaitError as exc:
            reply = {"ok": False, "error": exc.detail}
        except (OSError, ValueError) as exc:
            log.warning("dataset request of attempt %d failed: %r", job.attempt_id, exc)
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        try:
            await asyncio.to_thread(write_reply, self.data_dir, job, ask.id, reply)
        except OSError as exc:  # the task removed or replaced its folder: nobody to tell
            log.warning("no reply for attempt %d: %s", job.attempt_id, exc)

    async def _read(self, job: Dispatch, ask: DatasetRequest) -> dict[str, Any]:
        found = await self.source.resolve(job, ask.name, ask.version)
        path, checksum = await self.cache.get(
            found.checksum, found.filename, lambda: self.source.fetch(found)
        )
        if found.checksum is None:
            await self.source.learnt(found, checksum)
        return {"ok": True, "path": str(path), "name": found.name, "version": found.version,
                "checksum": checksum}  # fmt: skip

    async def _write(self, job: Dispatch, folder: Path, ask: DatasetLog) -> dict[str, Any]:
        fd = await asyncio.to_thread(open_own_file, Path(ask.path), folder)
        f = os.fdopen(fd, "rb")
        try:
            number = await self.source.log(job, ask, Path(ask.path).name, _chunks(f))
        finally:
            f.close()
        return {"ok": True, "name": ask.name, "version": number}


async def _chunks(f: Any) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(f.read, CHUNK):
        yield chunk


async def hashed(
    chunks: AsyncIterator[bytes], digest: Any, counter: list[int]
) -> AsyncIterator[bytes]:
    """`chunks`, hashed and counted on their way (what is stored is what is hashed)."""
    async for chunk in chunks:
        digest.update(chunk)
        counter[0] += len(chunk)
        yield chunk


def sha256() -> Any:
    return hashlib.sha256()


def open_own_file(path: Path, folder: Path) -> int:
    """A descriptor of the task's file at `path`, which must lie in the attempt's own folder
    (or its artifacts folder, next to it under the data directory). Checked on the file
    opened, not the name: a link swapped in after a check would not move it elsewhere."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        real = Path(os.readlink(f"/proc/self/fd/{fd}"))
        artifacts = _artifacts_of(folder)
        inside = any(real.is_relative_to(f.resolve()) for f in (folder, artifacts))
        if not inside or not os.path.isfile(f"/proc/self/fd/{fd}"):
            raise ValueError(
                f"{path}: log_dataset takes a file the task wrote in its working directory"
            )
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _artifacts_of(folder: Path) -> Path:
    """runs/<run>/<task>/<attempt> -> artifacts/<run>/<task>/<attempt>."""
    attempt, task, run = folder.name, folder.parent.name, folder.parent.parent.name
    return folder.parent.parent.parent.parent / "artifacts" / run / task / attempt


def write_reply(data_dir: Path, job: Dispatch, reply_id: str, reply: dict[str, Any]) -> None:
    """`runs/<run>/<task>/<attempt>/replies/<id>.json`, written whole (a temporary name,
    then a rename). Each folder is opened without following links: the task may write in
    them, and must not point the server's write somewhere else."""
    parts = [str(job.run_id), job.task_key, str(job.attempt), REPLIES]
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    fd = os.open(data_dir / "runs", flags)
    try:
        for part in parts:
            if part == REPLIES:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            child = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = child
        tmp = f".{reply_id}.tmp"
        with contextlib.suppress(FileNotFoundError):  # never write through what was there
            os.unlink(tmp, dir_fd=fd)
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644,
                      dir_fd=fd)  # fmt: skip
        with os.fdopen(out, "w", encoding="utf-8") as f:
            json.dump(reply, f)
        os.rename(tmp, f"{reply_id}.json", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)
