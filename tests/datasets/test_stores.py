"""The dataset key space of both artifact stores (the data directory, and S3 on a real
S3-speaking server, moto): whole files or nothing, and keys that cannot climb out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from plait.errors import NotFound
from plait.storage import ArtifactStore
from plait.storage.artifacts import FsspecArtifactStore, LocalArtifactStore, dataset_key
from tests.storage.conftest import bucket, s3_endpoint, s3_options

__all__ = ["bucket", "s3_endpoint"]  # fixtures
KEY = dataset_key("iris", "0" * 32, "iris.csv")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "data")
    endpoint, name = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("bucket")
    return FsspecArtifactStore(f"s3://{name}/prefix", s3_options(endpoint))


def kept(store: ArtifactStore, tmp_path: Path) -> list[str]:
    """Every file the store holds."""
    if isinstance(store, LocalArtifactStore):
        return [str(p.relative_to(tmp_path / "data")) for p in (tmp_path / "data").rglob("*")
                if p.is_file()]  # fmt: skip
    assert isinstance(store, FsspecArtifactStore)
    store.fs.invalidate_cache()
    return [str(p) for p in store.fs.find(store.root.split("/")[0])]


async def parts(*chunks: bytes, fail: bool = False) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    if fail:
        raise ConnectionResetError("cut off")


async def test_a_dataset_file_is_kept_whole_or_not_at_all(
    store: ArtifactStore, tmp_path: Path
) -> None:
    assert await store.put_dataset(KEY, parts(b"a,b\n", b"1,2\n")) == 8
    assert b"".join([c async for c in store.open_dataset(KEY)]) == b"a,b\n1,2\n"
    other = dataset_key("iris", "1" * 32, "iris.csv")
    with pytest.raises(ConnectionResetError):
        await store.put_dataset(other, parts(b"x" * 1000, fail=True))
    assert [k for k in kept(store, tmp_path) if "1" * 32 in k] == []
    await store.delete_dataset(KEY)
    assert kept(store, tmp_path) == []
    with pytest.raises(NotFound):
        [c async for c in store.open_dataset(KEY)]


async def test_keys_outside_the_dataset_space_are_not_found(store: ArtifactStore) -> None:
    for key in ("datasets/iris/../../3/fit/1/x", "3/fit/1/model.pkl", "datasets/iris/x/y",
                f"datasets/iris/{'0' * 32}/..", "datasets/9bad/" + "0" * 32 + "/a"):  # fmt: skip
        with pytest.raises(NotFound):
            await store.put_dataset(key, parts(b"x"))
