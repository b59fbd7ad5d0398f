"""The host's dataset cache: `<data_dir>/cache/datasets/<sha256>/<filename>`, one folder per
checksum, fetched once per host. A fetch goes to a private folder, is checked against the
checksum the registry holds, made read-only, and then renamed into place whole (a rename is
atomic): a reader finds a complete, verified file or none. Tasks see the cache read-only
(executors/sandbox.py), so none can change a file another task will read.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from plait.errors import PlaitError

log = logging.getLogger("plait.datasets")
SHA256 = set("0123456789abcdef")
# Tasks run as the server's user: read-only modes are what keeps them from changing a file.
FILE_MODE, FOLDER_MODE, OPEN_FOLDER = 0o444, 0o555, 0o755


class ChecksumMismatch(PlaitError):
    status = 502
    slug = "checksum-mismatch"
    title = "Checksum mismatch"


def cache_root(data_dir: Path) -> Path:
    return data_dir / "cache" / "datasets"


class HostCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.fetches = 0  # files fetched into the cache by this process (hits fetch nothing)
        self._locks: dict[str, asyncio.Lock] = {}

    def where(self, checksum: str, filename: str) -> Path:
        if len(checksum) != 64 or not set(checksum) <= SHA256:
            raise ValueError("not a sha256 checksum")
        if "/" in filename or filename in ("", ".", ".."):
            raise ValueError("not a file name")
        return self.root / checksum / filename

    async def get(
        self,
        checksum: str | None,
        filename: str,
        fetch: Callable[[], AsyncIterator[bytes]],
    ) -> tuple[Path, str]:
        """The cached file of that checksum (fetched now if this host has none), and the
        checksum. A version without one (a URI registered without it) is fetched and
        checked in by what it turns out to be."""
        if checksum is not None:
            path = self.where(checksum, filename)
            if path.is_file():
                return path, checksum
        lock = self._locks.setdefault(checksum or filename, asyncio.Lock())
        async with lock:  # one fetch per checksum in this process ...
            return await self._fetch(checksum, filename, fetch)

    async def _fetch(
        self, checksum: str | None, filename: str, fetch: Callable[[], AsyncIterator[bytes]]
    ) -> tuple[Path, str]:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        with await asyncio.to_thread(_host_lock, self.root, checksum or "unknown"):
            # ... and on this host: another process may have fetched it meanwhile.
            if checksum is not None and self.where(checksum, filename).is_file():
                return self.where(checksum, filename), checksum
            partial = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=self.root,
                                                   prefix=".partial-"))  # fmt: skip
            try:
                got = await self._download(partial / filename, fetch)
                if checksum is not None and got != checksum:
                    raise ChecksumMismatch(
                        f"{filename}: the bytes fetched hash to {got}, not {checksum}"
                    )
                return await asyncio.to_thread(_settle, partial, self.root / got, filename), got
            finally:
                await asyncio.to_thread(_remove, partial)

    async def _download(self, target: Path, fetch: Callable[[], AsyncIterator[bytes]]) -> str:
        digest = hashlib.sha256()
        f = await asyncio.to_thread(open, target, "wb")
        try:
            async for chunk in fetch():
                digest.update(chunk)
                await asyncio.to_thread(f.write, chunk)
        finally:
            await asyncio.to_thread(f.close)
        self.fetches += 1
        log.info("fetched %s into the dataset cache", target.name)
        return digest.hexdigest()


class _Held:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> _Held:
        return self

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _host_lock(root: Path, name: str) -> _Held:
    fd = os.open(root / f".lock-{name}", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return _Held(fd)


def _settle(partial: Path, final: Path, filename: str) -> Path:
    """Read-only, then renamed into place whole. The same bytes under another name (another
    dataset's) join the checksum's folder; called under the host lock."""
    os.chmod(partial / filename, FILE_MODE)
    if not final.exists():
        os.chmod(partial, FOLDER_MODE)
        os.rename(partial, final)
    elif not (final / filename).exists():
        os.chmod(final, OPEN_FOLDER)
        try:
            os.rename(partial / filename, final / filename)
        finally:
            os.chmod(final, FOLDER_MODE)
    return final / filename


def _remove(folder: Path) -> None:
    if folder.exists():
        with contextlib.suppress(OSError):
            os.chmod(folder, OPEN_FOLDER)
        shutil.rmtree(folder, ignore_errors=True)
