"""A folder as a zip, produced piece by piece while it is sent (never whole in memory)."""

from __future__ import annotations

import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from plait.storage.files import members

if TYPE_CHECKING:
    from plait.storage.artifacts import ArtifactStore

CHUNK = 256 * 1024


class _Sink:
    """What zipfile writes into: it keeps what was written until the response takes it. No
    seek or tell, so zipfile writes sizes after each member (data descriptors)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def zipped(folder: Path, inside: Path) -> Iterator[bytes]:
    """The zip of `folder`, in pieces of about CHUNK bytes (a sync iterator: Starlette runs
    it in a thread, so the reads and the compression stay off the event loop)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, name in members(folder, inside):
            try:
                source = path.open("rb")
            except OSError:  # gone since the walk: the rest of the folder still comes
                continue
            with source, archive.open(_info(path, name), "w", force_zip64=True) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()


def _info(path: Path, name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo.from_file(path, name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


async def zipped_store(store: ArtifactStore, key: str, names: list[str]) -> AsyncIterator[bytes]:
    """The zip of a folder kept in an artifact store (`names`: its files, from `members`),
    piece by piece as each file is read from the store."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            info = zipfile.ZipInfo(name, time.localtime()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as target:
                async for chunk in store.open(f"{key}/{name}"):
                    target.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()
