"""Downloading artifacts from a real server: a folder comes as a zip, and a link a task left
in its artifacts folder never serves anything outside that attempt's folder."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import Plait, running_plait
from tests.conftest import DATABASES, new_pg_database

pytestmark = pytest.mark.slow

# Run 1 keeps a secret; run 2's task plants links to it, to the server's signing key, to /etc
# and to themselves in its own artifacts folder, beside real files.
KEEPER = """
import pathlib, plait
pathlib.Path("secret.txt").write_text("run one's secret")
plait.log_artifact("secret.txt")
"""
PLANTER = """
import os, pathlib, plait
out = pathlib.Path(os.environ["PLAIT_ARTIFACTS_DIR"])
other = out.parents[2] / str(plait.params()["other"]) / "keep" / "1" / "secret.txt"
key = out.parents[3] / "secret.key"
model = pathlib.Path("model")
(model / "sub").mkdir(parents=True)
(model / "weights.bin").write_bytes(bytes(range(256)) * 4096)
(model / "sub" / "config.json").write_text('{"layers": 3}')
plait.log_artifact(model)
kept = out / "model"
os.symlink(other, kept / "stolen.txt")
os.symlink(key, kept / "key.txt")
os.symlink("/etc", kept / "etc")
os.symlink(kept / "weights.bin", kept / "same-weights.bin")  # inside: kept
os.symlink(kept / "loop", kept / "loop")  # leads nowhere
for name, target in (("stolen.txt", other), ("key.txt", key), ("loop.txt", out / "loop.txt")):
    pathlib.Path(name).write_text("decoy")
    plait.log_artifact(name)
    (out / name).unlink()
    os.symlink(target, out / name)
"""


@pytest.fixture(scope="module", params=[d for d in DATABASES if d in ("sqlite", "postgresql")])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Plait]:
    env = {"PLAIT_TICK_SECONDS": "0.2", "PLAIT_LOAD_DEMO": "false"}
    with ExitStack() as stack:
        if request.param == "postgresql":
            env["PLAIT_DATABASE_URL"] = stack.enter_context(new_pg_database("plait_art"))
        tmp = tmp_path_factory.mktemp("plait-art")
        yield stack.enter_context(running_plait("artifacts", tmp, **env))


def _run(live: Plait, name: str, code: str, params: dict[str, Any]) -> int:
    spec = {"name": name, "params": {k: {"type": "integer"} for k in params},
            "tasks": [{"key": "keep", "kind": "python", "code": code}]}  # fmt: skip
    wf = live.http.post("/api/v1/workflows", json=spec).json()
    run = live.http.post(f"/api/v1/workflows/{wf['id']}/runs", json={"params": params}).json()
    deadline = time.monotonic() + 30
    while (status := live.http.get(f"/api/v1/runs/{run['id']}").json()["status"]) in (
        "queued", "running"
    ):  # fmt: skip
        assert time.monotonic() < deadline, "run did not finish"
        time.sleep(0.1)
    assert status == "succeeded"
    run_id: int = run["id"]
    return run_id


@pytest.fixture(scope="module")
def planted(live: Plait) -> dict[str, httpx.Response]:
    first = _run(live, "keeper", KEEPER, {})
    second = _run(live, "planter", PLANTER, {"other": first})
    listed = live.http.get(f"/api/v1/runs/{second}/artifacts").json()
    return {a["name"]: live.http.get(f"/api/v1/runs/{second}/artifacts/{a['id']}") for a in listed}


def test_a_folder_downloads_as_a_zip_of_its_files(planted: dict[str, httpx.Response]) -> None:
    response = planted["model"]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "model.zip" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    weights = bytes(range(256)) * 4096
    assert {n: archive.read(n) for n in archive.namelist()} == {
        "same-weights.bin": weights,
        "sub/config.json": b'{"layers": 3}',
        "weights.bin": weights,
    }  # the links to another run, the server's key and /etc are left out


@pytest.mark.parametrize("name", ["stolen.txt", "key.txt", "loop.txt"])
def test_a_link_out_of_the_attempts_folder_is_never_served(
    planted: dict[str, httpx.Response], name: str
) -> None:
    # The server refuses such a link twice: when the task reports it (it is not listed), and,
    # for one swapped in after it was reported, when it is downloaded.
    response = planted.get(name)
    if response is None:
        return
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text


def test_the_folder_zip_is_sent_in_pieces(live: Plait, planted: dict[str, httpx.Response]) -> None:
    url = str(planted["model"].request.url)
    with live.http.stream("GET", url) as response:
        assert "content-length" not in response.headers  # streamed, not built then sent
        pieces = [len(chunk) for chunk in response.iter_raw()]
    assert sum(pieces) == len(planted["model"].content)


def test_the_keepers_own_artifact_is_still_served(live: Plait, tmp_path: Path) -> None:
    runs = live.http.get("/api/v1/runs", params={"workflow": "keeper"}).json()["items"]
    run_id = runs[0]["id"]
    (artifact,) = live.http.get(f"/api/v1/runs/{run_id}/artifacts").json()
    response = live.http.get(f"/api/v1/runs/{run_id}/artifacts/{artifact['id']}")
    assert (response.status_code, response.text) == (200, "run one's secret")
