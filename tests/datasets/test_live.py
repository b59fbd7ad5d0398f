"""Against the real `plait server` in its own process: the CLI's streamed upload, and an
upload whose client goes away midway (a raw socket closed after part of the body)."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Plait, running_plait

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plait]:
    with running_plait("sqlite", tmp_path_factory.mktemp("plait-datasets")) as running:
        yield running


def stored(live: Plait) -> list[Path]:
    root = live.server.stdout_path.parent.parent / "data" / "datasets"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_the_cli_uploads_lists_and_shows(live: Plait, tmp_path: Path) -> None:
    data = b"a,b\n" + b"1,2\n" * 50_000
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    said = live.cli.ok("datasets", "upload", "cli_data", str(path), "--kind", "tabular",
                       "--tag", "first")  # fmt: skip
    assert f"cli_data version 1: 195.3 KiB, sha256 {hashlib.sha256(data).hexdigest()}" in said
    listed = json.loads(live.cli.ok("datasets", "list", "-o", "json"))
    assert [(d["name"], d["versions"]) for d in listed] == [("cli_data", 1)]
    shown = json.loads(live.cli.ok("datasets", "show", "cli_data", "-o", "json"))
    assert shown["version_list"][0]["tags"] == ["first"]
    assert shown["version_list"][0]["metadata"]["columns"] == ["a", "b"]
    got = live.http.get("/api/v1/datasets/cli_data/versions/1/download")
    assert got.content == data
    assert "does not exist" in live.cli.fails("datasets", "upload", "cli_data", "/nope.csv")


def test_an_upload_cut_off_midway_keeps_nothing(live: Plait) -> None:
    live.http.post("/api/v1/datasets", json={"name": "cut"}).raise_for_status()
    token = live.http.headers["Authorization"]
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            'filename="x.bin"\r\n\r\n').encode()  # fmt: skip
    host, port = live.server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(
            f"POST /api/v1/datasets/cut/versions HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {token}\r\nContent-Length: 10000000\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode()
            + head + b"x" * 200_000
        )  # fmt: skip
    # The connection is closed: the server sees the body end early.
    versions = live.http.get("/api/v1/datasets/cut/versions").json()["items"]
    assert versions == []
    for _ in range(50):  # the server notices the close as it reads: a moment later
        if not [p for p in stored(live) if "/cut/" in str(p)]:
            break
        time.sleep(0.1)
    assert [p for p in stored(live) if "/cut/" in str(p)] == []
    assert live.http.get("/api/v1/datasets/cut/versions").json()["items"] == []
