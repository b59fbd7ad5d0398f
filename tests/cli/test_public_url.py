"""Links the server gives out are absolute: hook URLs and the run link in notifications start
with where the server listens (`--host`, `--port` / PLAIT_PORT), or PLAIT_PUBLIC_URL."""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from plait.notifications.messages import render
from plait.settings import Settings
from tests.cli.conftest import ADMIN_PASSWORD, http_login, running_plait, serve_with

EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 (what a server on every address is reached at)

WORKFLOW = {"name": "linked", "tasks": [{"key": "a", "kind": "shell", "command": "echo a"}]}


def test_the_base_url_is_where_the_server_listens_unless_public_url_says(tmp_path: Path) -> None:
    def base(**given: Any) -> str:
        return Settings(data_dir=tmp_path, **given).base_url

    assert base(host="127.0.0.1", port=8123) == "http://127.0.0.1:8123"
    assert base(host=EVERY_ADDRESS, port=9000) == "http://127.0.0.1:9000"
    assert base(host="::", port=9000) == "http://[::1]:9000"
    assert base(host="plait.lan", port=80, public_url="https://plait.example.com/") == (
        "https://plait.example.com"
    )
    with pytest.raises(ValidationError, match="absolute http"):
        Settings(data_dir=tmp_path, public_url="plait.example.com")
    link = render("run.failed", {"run_id": 7}, base(host=EVERY_ADDRESS, port=9000)).link
    assert link == "http://127.0.0.1:9000/runs/7"


def test_hook_urls_follow_plait_port_and_host(tmp_path: Path) -> None:
    options, env = ("--host", EVERY_ADDRESS), {"PLAIT_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with serve_with(tmp_path / "data", tmp_path / "logs", options, True, env) as server:
        token = http_login(server.url, ADMIN_PASSWORD).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
            assert http.post("/api/v1/workflows", json=WORKFLOW).status_code == 201
            hook = http.post("/api/v1/workflows/linked/hooks", json={"name": "ci"}).json()
            assert hook["url"] == f"{server.url}/api/v1/hooks/{hook['public_id']}"
            assert http.get("/api/v1/workflows/linked/hooks").json()[0]["url"] == hook["url"]
        assert f"reached at {server.url}" in server.stderr()


class Receiver:
    """A webhook endpoint on a free port: each POST's JSON body, in order."""

    def __init__(self) -> None:
        bodies: queue.Queue[dict[str, Any]] = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                bodies.put(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.bodies = bodies
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.mark.slow
def test_public_url_starts_hook_urls_and_notification_links(
    tmp_path: Path, receiver: Receiver
) -> None:
    public = "https://plait.example.com"
    with running_plait("public", tmp_path, PLAIT_PUBLIC_URL=public + "/") as live:
        assert live.http.post("/api/v1/workflows", json=WORKFLOW).status_code == 201
        hook = json.loads(live.cli.ok("hooks", "create", "linked", "ci", "-o", "json"))
        assert hook["url"] == f"{public}/api/v1/hooks/{hook['public_id']}"

        live.cli.ok("channels", "create", "sink", "--kind", "webhook", "-c", f"url={receiver.url}",
                    "--secret-stdin", input="a-signing-key-of-some-length\n")  # fmt: skip
        live.cli.ok("rules", "create", "done", "--channel", "sink", "-e", "run.succeeded",
                    "--workflow", "linked")  # fmt: skip
        started = live.cli.ok("run", "linked", "--watch")
        found = re.search(r"^started run (\d+) ", started, re.M)
        assert found, started
        body = receiver.bodies.get(timeout=15)
        assert body["link"] == f"{public}/runs/{found.group(1)}"
