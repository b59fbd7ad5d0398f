"""The server's `Source`: the database and the artifact store, for its own local executor."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update

from plait.auth.roles import Principal, Role
from plait.datasets import registry
from plait.datasets.broker import CHUNK, Resolved, TaskDatasets, hashed, sha256
from plait.datasets.cache import HostCache, cache_root
from plait.datasets.registry import NewVersion
from plait.datasets.uris import checked_uri
from plait.db.engine import Database
from plait.db.models import Dataset, DatasetVersion, Run, User, Workflow
from plait.errors import NotFound, PermissionDenied
from plait.executors.base import Dispatch
from plait.executors.reports import DatasetLog
from plait.settings import Settings
from plait.storage import ArtifactStore, artifact_store
from plait.storage.artifacts import dataset_key


def task_datasets(db: Database, settings: Settings) -> TaskDatasets:
    """What the server's own local executor answers its tasks' dataset requests with."""
    source = ServerSource(db, artifact_store(settings), settings)
    return TaskDatasets(source, settings.data_dir, HostCache(cache_root(settings.data_dir)))


class ServerSource:
    def __init__(self, db: Database, artifacts: ArtifactStore, settings: Settings) -> None:
        self.db = db
        self.artifacts = artifacts
        self.settings = settings

    async def resolve(self, job: Dispatch, name: str, version: int | None) -> Resolved:
        async with self.db.write() as session:
            dataset = await registry.get_dataset(session, name)
            row = await registry.get_version(session, dataset, version)
            await registry.record_lineage(session, job.run_id, job.task_key, job.attempt,
                                          row.id, "read")  # fmt: skip
        filename = row.filename or _uri_name(row.uri)
        return Resolved(row.id, name, row.version, filename, row.checksum, row.stored_key,
                        row.uri)  # fmt: skip

    def fetch(self, resolved: Resolved) -> AsyncIterator[bytes]:
        if resolved.stored_key is not None:
            return self.artifacts.open_dataset(resolved.stored_key)
        assert resolved.uri is not None
        return fetch_uri(resolved.uri, self.settings)

    async def learnt(self, resolved: Resolved, checksum: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(DatasetVersion)
                .where(DatasetVersion.id == resolved.version_id, DatasetVersion.checksum.is_(None))
                .values(checksum=checksum)
            )

    async def log(self, job: Dispatch, ask: DatasetLog, filename: str,
                  chunks: AsyncIterator[bytes]) -> int:  # fmt: skip
        author = await self._author(job, ask)
        key = dataset_key(ask.name, os.urandom(16).hex(), filename)
        digest, size = sha256(), [0]
        await self.artifacts.put_dataset(key, hashed(chunks, digest, size))
        new = NewVersion(stored_key=key, filename=filename, size=size[0],
                         checksum=digest.hexdigest(), meta=dict(ask.metadata),
                         tags=tuple(ask.tags), source_run_id=job.run_id)  # fmt: skip
        try:
            row = await registry.add_version(self.db, ask.name, new, author, author.id)
            async with self.db.write() as session:
                await registry.record_lineage(session, job.run_id, job.task_key, job.attempt,
                                              row.id, "wrote")  # fmt: skip
        except BaseException:
            await self.artifacts.delete_dataset(key)
            raise
        return row.version

    async def _author(self, job: Dispatch, ask: DatasetLog) -> Principal:
        """Tasks write with their workflow's owner's rights (an editor or an admin); the
        dataset is made on its first version."""
        async with self.db.write() as session:
            owner = await session.scalar(
                select(User).join(Workflow, Workflow.owner_id == User.id)
                .join(Run, Run.workflow_id == Workflow.id).where(Run.id == job.run_id)
            )  # fmt: skip
            if owner is None or not owner.is_active or owner.role == Role.viewer:
                raise PermissionDenied("this workflow's owner may not write datasets")
            who = Principal(owner.id, owner.username, Role(owner.role))
            exists = await session.scalar(select(Dataset.id).where(Dataset.name == ask.name))
            if exists is None:
                fields = {"name": ask.name, "kind": ask.kind, "description": ask.description,
                          "tags": list(ask.tags)}  # fmt: skip
                await registry.create_dataset(session, who, fields)
        return who


def _uri_name(uri: str | None) -> str:
    name = urlsplit(uri or "").path.rstrip("/").rsplit("/", 1)[-1]
    return name if name not in ("", ".", "..") else "data"


async def _https_only(request: httpx.Request) -> None:
    if request.url.scheme != "https":
        raise NotFound(
            f"a dataset URI redirected to {request.url.scheme}://; only https is followed"
        )


async def fetch_uri(uri: str, settings: Settings) -> AsyncIterator[bytes]:
    """The bytes a registered URI names: a file under the allowed roots (checked again: the
    roots may have changed since), https, or any fsspec scheme (s3://, gs://)."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        checked_uri(parts.path, settings)
        f = await asyncio.to_thread(open, Path(parts.path), "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk
        finally:
            f.close()
    elif parts.scheme == "https":
        # Redirects only to https: never down to plain http (a cloud's metadata address).
        client = httpx.AsyncClient(
            follow_redirects=True, timeout=60, event_hooks={"request": [_https_only]}
        )
        async with client, client.stream("GET", uri) as response:
            if response.status_code != 200:
                raise NotFound(f"{uri} answered {response.status_code}")
            async for chunk in response.aiter_bytes(CHUNK):
                yield chunk
    else:
        checked_uri(uri, settings)
        try:
            import fsspec
        except ImportError:
            raise NotFound(f"{parts.scheme}:// needs plait[s3] installed on this host") from None
        f = await asyncio.to_thread(fsspec.open(uri, "rb").open)
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk
        finally:
            f.close()
