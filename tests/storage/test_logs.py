"""The log stores: the attempt folder's file and chunks in the database (SQLite and
PostgreSQL) keep the same promises: appends only at the end, retries ignored, any range read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from plait.api.app import create_app
from plait.errors import PayloadTooLarge
from plait.executors.base import AttemptRef
from plait.orchestration import runs
from plait.settings import Settings
from plait.storage import LogOffsetMismatch, LogStore, append_log, log_store
from plait.storage.logs import CHUNK_BYTES, LocalLogStore
from tests.storage.conftest import new_run


@pytest.fixture
async def quiet_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"scheduler": False}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(params=["local", "database"])
async def store(request: pytest.FixtureRequest, quiet_app: FastAPI) -> LogStore:
    ctx = quiet_app.state.plait
    return log_store(ctx.settings.model_copy(update={"log_store": request.param}), ctx.db)


@pytest.fixture
async def ref(quiet_app: FastAPI) -> AttemptRef:
    return AttemptRef(attempt_id=0, run_id=await new_run(quiet_app), task_key="fit", attempt=1)


async def test_appends_grow_the_log_and_any_range_reads_back(
    store: LogStore, ref: AttemptRef
) -> None:
    assert await store.size(ref) == 0 and await store.read(ref, 0, 100) == b""
    assert await store.append(ref, 0, b"hello ") == 6
    assert await store.append(ref, 6, b"world\n") == 12
    assert await store.size(ref) == 12
    assert await store.read(ref, 0, 100) == b"hello world\n"
    assert await store.read(ref, 3, 6) == b"lo wor"  # across the two chunks
    assert await store.read(ref, 12, 10) == b""


async def test_a_retry_is_ignored_and_a_gap_or_overlap_is_refused_with_the_size(
    store: LogStore, ref: AttemptRef
) -> None:
    await store.append(ref, 0, b"0123456789")
    assert await store.append(ref, 4, b"4567") == 10  # a chunk sent twice: no change
    with pytest.raises(LogOffsetMismatch) as gap:
        await store.append(ref, 12, b"late")
    with pytest.raises(LogOffsetMismatch) as overlap:
        await store.append(ref, 8, b"89ab")
    assert gap.value.size == overlap.value.size == 10 and gap.value.status == 409
    assert await store.read(ref, 0, 100) == b"0123456789"


async def test_a_large_append_reads_back_whole_and_in_parts(
    store: LogStore, ref: AttemptRef
) -> None:
    data = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 7)  # more than three rows' worth
    assert await append_log(store, ref, 0, data) == len(data)
    assert await store.read(ref, 0, len(data)) == data
    middle = CHUNK_BYTES - 5
    assert (
        await store.read(ref, middle, CHUNK_BYTES + 10) == data[middle : middle + CHUNK_BYTES + 10]
    )


async def test_logs_of_attempts_are_kept_apart(store: LogStore, ref: AttemptRef) -> None:
    other = AttemptRef(attempt_id=0, run_id=ref.run_id, task_key="fit", attempt=2)
    await store.append(ref, 0, b"first try")
    await store.append(other, 0, b"second")
    assert await store.read(ref, 0, 100) == b"first try"
    assert await store.read(other, 0, 100) == b"second"


async def test_the_local_store_is_the_attempt_folders_output_log(tmp_path: Path) -> None:
    store = LocalLogStore(tmp_path)
    ref = AttemptRef(attempt_id=0, run_id=7, task_key="fit", attempt=1)
    path = tmp_path / "runs" / "7" / "fit" / "1" / "output.log"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"written by the task\n")  # as the local executor's task does
    assert await store.read(ref, 0, 100) == b"written by the task\n"
    assert await store.size(ref) == 20


async def test_chunks_go_with_their_run(quiet_app: FastAPI, ref: AttemptRef) -> None:
    ctx = quiet_app.state.plait
    store = log_store(ctx.settings.model_copy(update={"log_store": "database"}), ctx.db)
    await store.append(ref, 0, b"bye")
    async with ctx.db.write() as session:
        run = await runs.get_run(session, ref.run_id)
        await session.delete(run)
    assert await store.size(ref) == 0


async def test_an_append_over_a_mebibyte_is_refused(store: LogStore, ref: AttemptRef) -> None:
    with pytest.raises(PayloadTooLarge):
        await append_log(store, ref, 0, b"x" * (1024 * 1024 + 1))
