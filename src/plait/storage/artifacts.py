"""Where artifacts are kept: the data directory, or any fsspec URL (s3://bucket/prefix, ...).

An artifact is addressed by a key relative to the store, `<run>/<task>/<attempt>/<name>`;
the `artifacts.path` column holds that key, so any server reading the same store finds it.
A key may name a file or a folder (`log_artifact` of a folder): `members` tells them apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from plait.errors import NotFound
from plait.storage.files import members as folder_members
from plait.storage.files import real_path
from plait.storage.logs import AttemptLike

CHUNK = 256 * 1024
_PART = re.compile(r"^[^/\x00]+$")


def artifact_key(ref: AttemptLike, name: str) -> str:
    return f"{ref.run_id}/{ref.task_key}/{ref.attempt}/{name}"


def _checked_key(key: str) -> list[str]:
    """The parts of a key as stored by Plait; anything else (a key that climbs out with
    `..`, an absolute path left by an old version) is not found rather than followed."""
    parts = key.split("/")
    if (
        len(parts) < 4
        or not (parts[0].isdigit() and parts[2].isdigit())
        or any(p in ("", ".", "..") or not _PART.match(p) for p in parts)
    ):
        raise NotFound(f"no stored artifact at {key!r}")
    return parts


# Dataset files live in a key space of their own, `datasets/<name>/<token>/<file>`: a run's
# keys start with its (numeric) id, so the two never meet.
_DATASET_KEY = re.compile(r"^datasets/[A-Za-z][A-Za-z0-9_-]{0,99}/[0-9a-f]{32}/[^/\x00]{1,255}$")


def dataset_key(name: str, token: str, filename: str) -> str:
    return checked_dataset_key(f"datasets/{name}/{token}/{filename}")


def checked_dataset_key(key: str) -> str:
    if not _DATASET_KEY.match(key) or key.rsplit("/", 1)[1] in (".", ".."):
        raise NotFound(f"no stored dataset file at {key!r}")
    return key


@runtime_checkable
class ArtifactStore(Protocol):
    name: str

    async def put_file(self, ref: AttemptLike, name: str, path: Path) -> str:
        """Keeps the file or folder at `path` as the attempt's artifact `name`; its key."""
        ...

    async def put_stream(self, ref: AttemptLike, name: str, chunks: AsyncIterable[bytes]) -> int:
        """Keeps the bytes of `chunks` as the attempt's artifact `name`; their size."""
        ...

    async def members(self, key: str) -> list[str] | None:
        """None for a file; the names of a folder's files (relative, sorted); NotFound."""
        ...

    def open(self, key: str) -> AsyncIterator[bytes]:
        """The bytes of the file at `key` (or `key/member`), in chunks."""
        ...

    async def delete_run(self, run_id: int) -> None: ...

    async def put_dataset(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Keeps the bytes of `chunks` at the dataset key `key`, whole or not at all (an
        error raised by `chunks` leaves nothing); their size."""
        ...

    def open_dataset(self, key: str) -> AsyncIterator[bytes]:
        """The bytes of the dataset file at `key`, in chunks; NotFound."""
        ...

    async def delete_dataset(self, key: str) -> None:
        """Removes the dataset file at `key`, if it is there."""
        ...


async def _chunks_of(f: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(f.close)


class LocalArtifactStore:
    """`<data_dir>/artifacts/<run>/<task>/<attempt>/<name>`: where the local executor's
    tasks write their artifacts, so keeping one costs no copy."""

    name = "local"

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "artifacts"

    def _located(self, key: str) -> tuple[Path, Path]:
        """The real path of `key` and its attempt's folder, if it lies inside that folder:
        a task writes there, so a link may point anywhere (the server's key, other runs)."""
        parts = _checked_key(key)
        folder = self.root.joinpath(*parts[:3]).resolve()
        path = real_path(self.root.joinpath(*parts))
        if path is None or not path.is_relative_to(folder) or path == folder:
            raise NotFound(f"no stored artifact at {key!r}")
        return path, folder

    async def put_file(self, ref: AttemptLike, name: str, path: Path) -> str:
        key = artifact_key(ref, name)
        target = self.root / key
        if real_path(path) != real_path(target):  # written elsewhere (not by the local SDK)
            await asyncio.to_thread(_copy, path, target)
        return key

    async def put_stream(self, ref: AttemptLike, name: str, chunks: AsyncIterable[bytes]) -> int:
        target = self.root / artifact_key(ref, name)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in chunks:
                    await asyncio.to_thread(f.write, chunk)
                    size += len(chunk)
            await asyncio.to_thread(os.replace, tmp, target)
        except BaseException:
            await asyncio.to_thread(Path(tmp).unlink, missing_ok=True)
            raise
        return size

    async def members(self, key: str) -> list[str] | None:
        return await asyncio.to_thread(self._members, key)

    def _members(self, key: str) -> list[str] | None:
        path, folder = self._located(key)
        if path.is_file():
            return None
        if path.is_dir():
            return sorted(name for _real, name in folder_members(path, folder))
        raise NotFound(f"no stored artifact at {key!r}")

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path, _folder = await asyncio.to_thread(self._located, key)
        try:
            f = await asyncio.to_thread(open, path, "rb")
        except OSError:
            raise NotFound(f"no stored artifact at {key!r}") from None
        async for chunk in _chunks_of(f):
            yield chunk

    async def delete_run(self, run_id: int) -> None:
        await asyncio.to_thread(shutil.rmtree, self.root / str(run_id), True)

    # Datasets under <data_dir>/datasets: outside artifacts/, which tasks may write.
    def _dataset_path(self, key: str) -> Path:
        return self.root.parent.joinpath(*checked_dataset_key(key).split("/"))

    async def put_dataset(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        target = self._dataset_path(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in chunks:
                    await asyncio.to_thread(f.write, chunk)
                    size += len(chunk)
            await asyncio.to_thread(os.replace, tmp, target)
        except BaseException:
            await asyncio.to_thread(Path(tmp).unlink, missing_ok=True)
            await asyncio.to_thread(_remove_empty, target.parent)
            raise
        return size

    async def open_dataset(self, key: str) -> AsyncIterator[bytes]:
        try:
            f = await asyncio.to_thread(open, self._dataset_path(key), "rb")
        except OSError:
            raise NotFound(f"no stored dataset file at {key!r}") from None
        async for chunk in _chunks_of(f):
            yield chunk

    async def delete_dataset(self, key: str) -> None:
        path = self._dataset_path(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        await asyncio.to_thread(_remove_empty, path.parent)


def _discard(f: Any) -> None:
    """Drop a half-written file: fsspec's buffered files abort their upload, and are then
    marked closed so that their finalizer does not try to flush what is gone."""
    discard = getattr(f, "discard", None)
    if discard is None:
        f.close()
        return
    discard()
    f.closed = True


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
    else:
        shutil.copyfile(source, target)


class FsspecArtifactStore:
    """Any file system fsspec knows (`s3://bucket/prefix`, `gcs://...`, `file:///...`).
    `options` (endpoint_url, key, secret...) go to the file system and nowhere else."""

    name = "fsspec"

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        try:
            import fsspec  # the `s3` extra: only a server that uses this store needs it

            self.fs, root = fsspec.core.url_to_fs(url, **options)
        except ImportError as exc:
            raise RuntimeError(
                f"PLAIT_ARTIFACT_STORE={url}: {exc}; install plait[s3] (or the fsspec "
                "package for that URL's scheme)"
            ) from None
        self.url = url
        self.root = root.rstrip("/")

    def __repr__(self) -> str:  # never the options: they hold credentials
        return f"FsspecArtifactStore({self.url!r})"

    def _path(self, key: str) -> str:
        return "/".join([self.root, *_checked_key(key)])

    async def put_file(self, ref: AttemptLike, name: str, path: Path) -> str:
        key = artifact_key(ref, name)
        await asyncio.to_thread(self._put, path, self._path(key))
        return key

    def _put(self, path: Path, target: str) -> None:
        real = real_path(path)
        if real is not None and real.is_dir():
            # The same rule as a download: a link inside is followed only to a file that
            # lies inside the folder itself.
            for source, name in folder_members(real, real):
                self.fs.put_file(str(source), f"{target}/{name}")
        else:
            self.fs.put_file(str(path), target)
        self.fs.invalidate_cache(target)

    async def put_stream(self, ref: AttemptLike, name: str, chunks: AsyncIterable[bytes]) -> int:
        target = self._path(artifact_key(ref, name))
        f = await asyncio.to_thread(self.fs.open, target, "wb")
        size = 0
        try:
            async for chunk in chunks:
                await asyncio.to_thread(f.write, chunk)
                size += len(chunk)
        except BaseException:
            await asyncio.to_thread(getattr(f, "discard", f.close))  # not kept half-written
            raise
        await asyncio.to_thread(f.close)
        self.fs.invalidate_cache(target)
        return size

    async def members(self, key: str) -> list[str] | None:
        return await asyncio.to_thread(self._members, self._path(key))

    def _members(self, path: str) -> list[str] | None:
        self.fs.invalidate_cache(path)  # another server may have written it since
        if self.fs.isfile(path):
            return None
        found = sorted(self.fs.find(path))
        if not found:
            raise NotFound("no stored artifact there")
        return [item[len(path.rstrip("/")) + 1 :] for item in found]

    async def open(self, key: str) -> AsyncIterator[bytes]:
        try:
            f = await asyncio.to_thread(self.fs.open, self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound(f"no stored artifact at {key!r}") from None
        async for chunk in _chunks_of(f):
            yield chunk

    async def delete_run(self, run_id: int) -> None:
        path = f"{self.root}/{run_id}"
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.fs.rm, path, recursive=True)

    def _dataset_path(self, key: str) -> str:
        return f"{self.root}/{checked_dataset_key(key)}"

    async def put_dataset(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        target = self._dataset_path(key)
        f = await asyncio.to_thread(self.fs.open, target, "wb")
        size = 0
        try:
            async for chunk in chunks:
                await asyncio.to_thread(f.write, chunk)
                size += len(chunk)
        except BaseException:
            await asyncio.to_thread(_discard, f)
            await self.delete_dataset(key)  # a store without `discard` kept what it had
            raise
        await asyncio.to_thread(f.close)
        self.fs.invalidate_cache(target)
        return size

    async def open_dataset(self, key: str) -> AsyncIterator[bytes]:
        try:
            f = await asyncio.to_thread(self.fs.open, self._dataset_path(key), "rb")
        except FileNotFoundError:
            raise NotFound(f"no stored dataset file at {key!r}") from None
        async for chunk in _chunks_of(f):
            yield chunk

    async def delete_dataset(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.fs.rm, self._dataset_path(key))
