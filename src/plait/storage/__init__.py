"""The storage seam: task logs and artifacts behind two small stores, so any server can
serve what any worker produced (`PLAIT_LOG_STORE`, `PLAIT_ARTIFACT_STORE`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING

from plait.errors import FieldError, InvalidInput, PayloadTooLarge
from plait.executors.limits import MAX_NAME, MAX_SIZE
from plait.settings import Settings
from plait.storage.artifacts import (
    ArtifactStore,
    FsspecArtifactStore,
    LocalArtifactStore,
    artifact_key,
)
from plait.storage.logs import (
    MAX_OFFSET,
    AttemptLike,
    LocalLogStore,
    LogOffsetMismatch,
    LogStore,
)

if TYPE_CHECKING:
    from plait.db.engine import Database

__all__ = [
    "MAX_LOG_APPEND",
    "ArtifactStore",
    "AttemptLike",
    "LogOffsetMismatch",
    "LogStore",
    "append_log",
    "artifact_store",
    "log_store",
    "save_artifact",
    "stores",
]

MAX_LOG_APPEND = 1024 * 1024  # bytes of one append through the execution API


def stores(settings: Settings, db: Database | None = None) -> tuple[LogStore, ArtifactStore]:
    """The stores the settings name. `db`: the server's database (the database log store
    writes through it); without one, a database of its own is opened from the settings."""
    return log_store(settings, db), artifact_store(settings)


def log_store(settings: Settings, db: Database | None = None) -> LogStore:
    if settings.log_store == "database":
        # Imported here: a worker host (plait[worker]) has no database library.
        from plait.db.engine import Database
        from plait.storage.dblogs import DatabaseLogStore

        return DatabaseLogStore(db or Database(settings.resolved_database_url()))
    return LocalLogStore(settings.data_dir)


def artifact_store(settings: Settings) -> ArtifactStore:
    url = settings.artifact_store.strip()
    if url in ("", "local"):
        return LocalArtifactStore(settings.data_dir)
    try:
        options = json.loads(settings.artifact_store_options.get_secret_value())
    except ValueError:
        options = None
    if not isinstance(options, dict):  # the message must not quote it: it holds secrets
        raise ValueError("PLAIT_ARTIFACT_STORE_OPTIONS is not a JSON object")
    return FsspecArtifactStore(url, options)


async def append_log(store: LogStore, ref: AttemptLike, offset: int, data: bytes) -> int:
    """Appends a chunk a worker sent at `offset`; the log's size after. A retry of a chunk
    already stored is accepted and ignored; a gap or an overlap is LogOffsetMismatch (409,
    with the stored size)."""
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput([FieldError(("query", "offset"), f"must be 0..{MAX_OFFSET}")])
    if len(data) > MAX_LOG_APPEND:
        raise PayloadTooLarge(f"a log chunk holds at most {MAX_LOG_APPEND} bytes")
    return await store.append(ref, offset, data)


def save_artifact_name(name: str) -> None:
    """The SDK's rule for an artifact's name: no `/`, not `.` or `..`, at most MAX_NAME."""
    if not name or len(name) > MAX_NAME or "/" in name or "\x00" in name or name in (".", ".."):
        raise InvalidInput([FieldError(("path", "name"), "is not a valid artifact name")])


async def save_artifact(
    store: ArtifactStore, ref: AttemptLike, name: str, chunks: AsyncIterable[bytes]
) -> tuple[str, int]:
    """Keeps an uploaded artifact; its key (for `artifacts.path`) and size. The name follows
    the SDK's rule (no `/`, not `.` or `..`); the size is bounded by limits.MAX_SIZE."""
    save_artifact_name(name)
    size = await store.put_stream(ref, name, _bounded(chunks))
    return artifact_key(ref, name), size


async def _bounded(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > MAX_SIZE:
            raise PayloadTooLarge(f"an artifact holds at most {MAX_SIZE} bytes")
        yield chunk
