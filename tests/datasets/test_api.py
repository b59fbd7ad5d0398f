"""The registry through its HTTP API: upload and download, what is refused, races, roles."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import Account
from tests.datasets.conftest import LIMIT

CSV = b"sepal,petal,label\n1.0,2.0,a\n3.0,4.0,b\n"


def stored_files(settings_dir: Path) -> list[Path]:
    root = settings_dir / "datasets"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def make(client: httpx.AsyncClient, who: Account, name: str = "iris") -> None:
    r = await client.post("/api/v1/datasets", json={"name": name, "kind": "tabular",
                          "tags": ["flowers"]}, headers=who.headers)  # fmt: skip
    assert r.status_code == 201, r.text


async def upload(
    client: httpx.AsyncClient, who: Account, data: bytes, name: str = "iris", **fields: str
) -> httpx.Response:
    files = {"file": ("iris.csv", data, "text/csv")}
    url = f"/api/v1/datasets/{name}/versions"
    return await client.post(url, headers=who.headers, files=files, data=fields)


async def test_upload_then_download_gives_the_same_bytes(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    await make(client, editor)
    r = await upload(client, editor, CSV, tags="v1,clean", checksum=hashlib.sha256(CSV).hexdigest())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["version"] == 1 and body["size"] == len(CSV) and body["stored"]
    assert body["checksum"] == hashlib.sha256(CSV).hexdigest()
    assert body["metadata"]["columns"] == ["sepal", "petal", "label"]
    assert body["tags"] == ["v1", "clean"]
    got = await client.get("/api/v1/datasets/iris/versions/1/download",
                           headers=accounts["viewer"].headers)  # fmt: skip
    assert got.status_code == 200 and got.content == CSV
    assert "iris.csv" in got.headers["content-disposition"]
    listed = await client.get("/api/v1/datasets", headers=accounts["viewer"].headers)
    assert [d["name"] for d in listed.json()["items"]] == ["iris"]
    assert listed.json()["items"][0]["latest"]["version"] == 1


async def test_a_wrong_checksum_is_refused_and_nothing_kept(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI
) -> None:
    editor = accounts["editor"]
    await make(client, editor)
    r = await upload(client, editor, CSV, checksum="0" * 64)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.checksum"
    versions = await client.get("/api/v1/datasets/iris/versions", headers=editor.headers)
    assert versions.json()["items"] == []
    assert stored_files(app.state.plait.settings.data_dir) == []


async def test_a_file_over_the_limit_is_refused(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI
) -> None:
    editor = accounts["editor"]
    await make(client, editor)
    r = await upload(client, editor, b"x" * (LIMIT + 1))
    assert r.status_code == 413
    assert (await upload(client, editor, b"x" * LIMIT)).status_code == 201  # the limit itself
    files = stored_files(app.state.plait.settings.data_dir)
    assert [f.stat().st_size for f in files] == [LIMIT]


async def test_an_upload_cut_off_midway_leaves_no_version_and_no_file(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI
) -> None:
    editor = accounts["editor"]
    await make(client, editor)
    boundary = "cut-off-boundary"

    async def body() -> AsyncIterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n').encode()  # fmt: skip
        yield CSV * 100
        raise ConnectionResetError("the client went away")

    headers = {**editor.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    # In-process, the app's receive() raises what the body raised (a real server tells it
    # the client went away); either way the upload fails before a version exists.
    r = await client.post("/api/v1/datasets/iris/versions", headers=headers, content=body())
    assert r.status_code >= 400
    versions = await client.get("/api/v1/datasets/iris/versions", headers=editor.headers)
    assert versions.json()["items"] == []
    assert stored_files(app.state.plait.settings.data_dir) == []


async def test_a_body_without_its_closing_boundary_is_cut_off_and_not_kept(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI
) -> None:
    """A body that ends early without the connection breaking (a proxy that gave up, a
    client that sent a wrong length): the form is not whole, so neither is the file."""
    editor = accounts["editor"]
    await make(client, editor)
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
            + CSV * 10)  # fmt: skip
    headers = {**editor.headers, "Content-Type": "multipart/form-data; boundary=b"}
    r = await client.post("/api/v1/datasets/iris/versions", headers=headers, content=body)
    assert r.status_code == 422 and "cut off" in r.json()["errors"][0]["message"]
    versions = await client.get("/api/v1/datasets/iris/versions", headers=editor.headers)
    assert versions.json()["items"] == []
    assert stored_files(app.state.plait.settings.data_dir) == []


async def test_concurrent_uploads_get_distinct_versions(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    await make(client, editor)
    results = await asyncio.gather(*(upload(client, editor, CSV + bytes([i])) for i in range(6)))
    assert all(r.status_code == 201 for r in results), [r.text for r in results]
    assert sorted(r.json()["version"] for r in results) == [1, 2, 3, 4, 5, 6]
    for r in results:  # each number names its own bytes
        got = await client.get(f"/api/v1/datasets/iris/versions/{r.json()['version']}/download",
                               headers=editor.headers)  # fmt: skip
        assert hashlib.sha256(got.content).hexdigest() == r.json()["checksum"]


async def test_a_uri_is_registered_not_copied(
    client: httpx.AsyncClient, accounts: dict[str, Account], tmp_path: Path
) -> None:
    editor = accounts["editor"]
    await make(client, editor)
    url = "/api/v1/datasets/iris/versions"
    r = await client.post(url, json={"uri": "s3://bucket/iris/", "ground_truth_uri":
                          "https://example.org/labels.csv"}, headers=editor.headers)  # fmt: skip
    assert r.status_code == 201 and r.json()["uri"] == "s3://bucket/iris/"
    assert not r.json()["stored"]
    inside = tmp_path / "shared" / "iris.csv"
    r = await client.post(url, json={"uri": str(inside)}, headers=editor.headers)
    assert r.status_code == 201 and r.json()["uri"] == f"file://{inside}"
    # Outside the allowed prefix (another bucket, one whose name only starts alike): the
    # server would read it with its own credentials for any task.
    bad_uris = ("s3://secrets/key.pem", "s3://bucket-other/x", "gs://bucket/x", "/etc/passwd",
                "file:///etc/passwd", "ftp://host/x", str(inside / "../../x"))  # fmt: skip
    for bad in bad_uris:
        r = await client.post(url, json={"uri": bad}, headers=editor.headers)
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == "body.uri"
    r = await client.get(f"{url}/1/download", headers=editor.headers)
    assert r.status_code == 409


async def test_bad_input_names_the_field(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    r = await client.post("/api/v1/datasets", json={"name": "9lives"}, headers=editor.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    await make(client, editor)
    assert (await client.post("/api/v1/datasets", json={"name": "iris"},
                              headers=editor.headers)).status_code == 409  # fmt: skip
    assert (await upload(client, editor, CSV, name="nope")).status_code == 404
    for bad in ("[1]", "[" * 5000 + "]" * 5000, '{"a": "\\u0000"}'):
        r = await upload(client, editor, CSV, metadata=bad)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.metadata"
    r = await upload(client, editor, CSV, tags="ok,not ok")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.tags[1]"
    r = await client.post("/api/v1/datasets/iris/versions", headers=editor.headers,
                          data={"tags": "x"}, files={"other": ("a", b"a")})  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.file"
    assert (await client.get("/api/v1/datasets/iris/versions/7",
                             headers=editor.headers)).status_code == 404  # fmt: skip


async def test_roles(client: httpx.AsyncClient, accounts: dict[str, Account]) -> None:
    viewer, editor, other = accounts["viewer"], accounts["editor"], accounts["other_editor"]
    r = await client.post("/api/v1/datasets", json={"name": "iris"}, headers=viewer.headers)
    assert r.status_code == 403
    await make(client, editor)
    assert (await upload(client, viewer, CSV)).status_code == 403
    assert (await upload(client, other, CSV)).status_code == 201  # editors add versions
    patch: dict[str, Any] = {"description": "flowers"}
    assert (await client.patch("/api/v1/datasets/iris", json=patch,
                               headers=other.headers)).status_code == 403  # fmt: skip
    assert (await client.patch("/api/v1/datasets/iris", json=patch,
                               headers=editor.headers)).status_code == 200  # fmt: skip
    assert (await client.delete("/api/v1/datasets/iris", headers=other.headers)).status_code == 403
    assert (await client.get("/api/v1/datasets/iris")).status_code == 401
    r = await client.delete("/api/v1/datasets/iris", headers=accounts["admin"].headers)
    assert r.status_code == 204
    assert (await client.get("/api/v1/datasets/iris", headers=viewer.headers)).status_code == 404


async def test_the_list_pages_searches_and_filters_by_tag(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    for i in range(5):
        body = {"name": f"set{i}", "description": "50% off" if i == 3 else "plain",
                "tags": ["even"] if i % 2 == 0 else []}  # fmt: skip
        assert (await client.post("/api/v1/datasets", json=body,
                                  headers=editor.headers)).status_code == 201  # fmt: skip
    assert (await upload(client, editor, CSV, name="set2")).status_code == 201
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/datasets", params=params, headers=editor.headers)).json()
        seen += [(d["name"], d["versions"]) for d in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [("set0", 0), ("set1", 0), ("set2", 1), ("set3", 0), ("set4", 0)]
    found = await client.get("/api/v1/datasets", params={"q": "50%"}, headers=editor.headers)
    assert [d["name"] for d in found.json()["items"]] == ["set3"]
    tagged = await client.get("/api/v1/datasets", params={"tag": "even", "limit": 2},
                              headers=editor.headers)  # fmt: skip
    assert [d["name"] for d in tagged.json()["items"]] == ["set0", "set2"]
    after = {"tag": "even", "cursor": tagged.json()["next_cursor"]}
    rest = await client.get("/api/v1/datasets", headers=editor.headers, params=after)
    assert [d["name"] for d in rest.json()["items"]] == ["set4"]
    assert tagged.json()["items"][1]["latest"]["created_by"] == "ed"
