"""`plait tokens`: a worker token made on the command line works as a worker, and only so."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import running_plait

pytestmark = pytest.mark.slow

BEAT = {"worker": "cli-box:1", "queues": ["default"], "concurrency": 1, "running": []}


def test_create_list_and_revoke_a_worker_token(tmp_path: Path) -> None:
    env = {"PLAIT_LOAD_DEMO": "false", "PLAIT_SCHEDULER": "false"}
    with running_plait("tokens", tmp_path, **env) as plait:
        secret = plait.cli.ok("tokens", "create", "--worker", "gpu-box").strip()
        assert secret.startswith("plait_") and "\n" not in secret
        worker = {"Authorization": f"Bearer {secret}"}
        url = plait.server.url
        beat = httpx.post(f"{url}/api/v1/exec/workers/heartbeat", json=BEAT, headers=worker)
        assert beat.status_code == 200, beat.text
        assert httpx.get(f"{url}/api/v1/runs", headers=worker).status_code == 403

        row = next(
            line for line in plait.cli.ok("tokens", "list").splitlines() if "gpu-box" in line
        )
        assert "worker" in row and secret not in row
        token_id = str(plait.http.get("/api/v1/tokens").json()[0]["id"])
        assert f"revoked token {token_id}" in plait.cli.ok("tokens", "revoke", token_id)
        again = httpx.post(f"{url}/api/v1/exec/workers/heartbeat", json=BEAT, headers=worker)
        assert again.status_code == 401
