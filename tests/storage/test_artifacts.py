"""The artifact stores: the data directory's layout, and any fsspec URL, here S3 on a real
S3-speaking server (moto). Both keep files and folders by a key and give them back."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from plait.errors import InvalidInput, NotFound
from plait.executors.base import AttemptRef
from plait.settings import Settings
from plait.storage import ArtifactStore, artifact_store, save_artifact
from plait.storage.artifacts import FsspecArtifactStore, LocalArtifactStore
from tests.storage.conftest import CREDENTIALS, s3_client, s3_options

REF = AttemptRef(attempt_id=0, run_id=3, task_key="fit", attempt=1)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read(store: ArtifactStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(key)])


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "data")
    endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("bucket")
    return FsspecArtifactStore(f"s3://{bucket}/prefix", s3_options(endpoint))


async def test_a_stream_is_kept_by_its_key(store: ArtifactStore) -> None:
    key, size = await save_artifact(store, REF, "model.bin", chunks(b"wei", b"ghts"))
    assert (key, size) == ("3/fit/1/model.bin", 7)
    assert await store.members(key) is None  # a file
    assert await read(store, key) == b"weights"


async def test_a_folder_is_kept_with_its_files(store: ArtifactStore, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w" * 1000)
    (folder / "sub" / "config.json").write_text('{"layers": 3}')
    key = await store.put_file(REF, "model", folder)
    assert await store.members(key) == ["sub/config.json", "weights.bin"]
    assert await read(store, f"{key}/sub/config.json") == b'{"layers": 3}'


async def test_what_is_not_there_or_climbs_out_is_not_found(
    store: ArtifactStore, tmp_path: Path
) -> None:
    await save_artifact(store, REF, "a.txt", chunks(b"a"))
    for key in ("3/fit/1/missing", "3/fit/1/../../../etc/passwd", "/etc/passwd", "3/fit/x/a"):
        with pytest.raises(NotFound):
            await store.members(key)
        with pytest.raises(NotFound):
            await read(store, key)


async def test_delete_run_removes_only_that_runs_artifacts(store: ArtifactStore) -> None:
    other = AttemptRef(attempt_id=0, run_id=4, task_key="fit", attempt=1)
    await save_artifact(store, REF, "a.txt", chunks(b"a"))
    await save_artifact(store, other, "b.txt", chunks(b"b"))
    await store.delete_run(3)
    with pytest.raises(NotFound):
        await store.members("3/fit/1/a.txt")
    assert await read(store, "4/fit/1/b.txt") == b"b"


async def test_names_follow_the_sdks_rule(store: ArtifactStore) -> None:
    for name in ("", ".", "..", "a/b", "x" * 256):
        with pytest.raises(InvalidInput):
            await save_artifact(store, REF, name, chunks(b"a"))


async def test_a_local_link_out_of_the_attempts_folder_is_never_followed(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "data")
    secret = tmp_path / "secret.key"
    secret.write_text("server secret")
    folder = tmp_path / "data" / "artifacts" / "3" / "fit" / "1"
    folder.mkdir(parents=True)
    os.symlink(secret, folder / "key.txt")
    with pytest.raises(NotFound):
        await read(store, "3/fit/1/key.txt")


async def test_the_s3_bytes_are_in_the_bucket_under_the_prefix(
    s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    store = FsspecArtifactStore(f"s3://{bucket}/runs", s3_options(s3_endpoint))
    source = tmp_path / "report.csv"
    source.write_text("a,b\n1,2\n")
    key = await store.put_file(REF, "report.csv", source)
    got = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=f"runs/{key}")
    assert got["Body"].read() == b"a,b\n1,2\n"


def test_the_store_options_are_a_secret(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        artifact_store=f"s3://{bucket}/p",
        artifact_store_options=SecretStr('{"key": "k", "secret": "' + CREDENTIALS["secret"] + '"}'),
    )
    assert CREDENTIALS["secret"] not in repr(settings) + str(settings.model_dump())
    assert CREDENTIALS["secret"] not in repr(artifact_store(settings))
    broken = settings.model_copy(update={"artifact_store_options": SecretStr("[1, 2")})
    with pytest.raises(ValueError, match="not a JSON object") as refused:
        artifact_store(broken)
    assert "[1, 2" not in str(refused.value)
