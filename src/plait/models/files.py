"""A model version's files on this host: fetched from the artifact store once into
`<data_dir>/cache/models/<sha256 of the key>/`, each checked against the checksum the server
recorded when the version was registered (a task can write artifact folders; what was
registered is what gets loaded, or nothing is)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from plait.errors import Conflict
from plait.storage.artifacts import ArtifactStore

MODEL_CACHE = "cache/models"


class TamperedFile(Conflict):
    """A stored file is not the one that was registered."""


def cache_root(data_dir: Path) -> Path:
    return data_dir / MODEL_CACHE


async def local_copy(
    store: ArtifactStore, data_dir: Path, key: str, files: list[dict[str, Any]]
) -> Path:
    """A local folder holding `files` (name, size, sha256) of the stored folder (or single
    file) at `key`. Made once per key, in a temporary folder moved into place whole."""
    target = cache_root(data_dir) / hashlib.sha256(key.encode()).hexdigest()
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=target.parent, prefix=".fetch-"))
    try:
        members = await store.members(key)
        for entry in files:
            name = str(entry["name"])
            if name.startswith("/") or ".." in name.split("/"):
                raise TamperedFile(f"{name!r} is not a file name of a model folder")
            source = key if members is None else f"{key}/{name}"
            await _fetch(store, source, tmp / name, str(entry["sha256"]))
        try:
            await asyncio.to_thread(os.rename, tmp, target)
        except OSError:  # another fetch of the same key won the race: keep its copy
            if not target.is_dir():
                raise
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
    return target


async def _fetch(store: ArtifactStore, key: str, path: Path, sha256: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as f:
        async for chunk in store.open(key):
            digest.update(chunk)
            await asyncio.to_thread(f.write, chunk)
    if digest.hexdigest() != sha256:
        raise TamperedFile(f"{key} is not the file that was registered (its sha256 differs)")
