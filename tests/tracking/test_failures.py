"""An adapter that is not installed, unknown or failing never fails a run: the run ends as
it would, the failure is on its tracking entry, and the other adapters go on."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr

from plait.settings import Settings
from plait.tracking import registry
from plait.tracking.base import ArtifactFile, Point, RunInfo
from tests.cli.conftest import free_port
from tests.conftest import Account
from tests.tracking.conftest import tracking_of, train_run

pytestmark = pytest.mark.timeout(180)


class Broken:
    """An adapter whose tracking server answers every call with an error."""

    name: ClassVar[str] = "broken"
    live: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        pass

    def start(self, run: RunInfo, external_id: str | None) -> str:
        raise ConnectionError("tracking server said 503")

    def log_params(self, external_id: str, params: dict[str, Any]) -> None: ...
    def log_metrics(self, external_id: str, points: list[Point]) -> None: ...
    def log_artifacts(self, external_id: str, files: list[ArtifactFile]) -> None: ...
    def finish(self, external_id: str, run: RunInfo) -> None: ...


@pytest.fixture
def tracking(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setitem(registry.ADAPTERS, "broken", Broken)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # as if mlflow were not installed
    return {"tracking": "mlflow,nosuch,broken,wandb"}


async def test_failing_adapters_leave_the_run_alone_and_show_why(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    run = await train_run(client, accounts["editor"], "failing-adapters")
    assert run["status"] == "succeeded"
    viewer = accounts["viewer"]

    synced = await tracking_of(client, viewer, run["id"], "wandb", "synced")
    assert synced["error"] is None  # the working adapter was not held up by the others
    broken = await tracking_of(client, viewer, run["id"], "broken", "retrying")
    assert "tracking server said 503" in broken["error"]
    missing = await tracking_of(client, viewer, run["id"], "mlflow", "retrying")
    assert "mlflow is not installed" in missing["error"]
    unknown = await tracking_of(client, viewer, run["id"], "nosuch", "retrying")
    assert "unknown tracking adapter 'nosuch'" in unknown["error"]

    again = (await client.get(f"/api/v1/runs/{run['id']}", headers=viewer.headers)).json()
    assert again["status"] == "succeeded"
    assert [t["adapter"] for t in again["tracking"]] == ["broken", "mlflow", "nosuch", "wandb"]


class TestSecrets:
    @pytest.fixture
    def tracking(self) -> dict[str, Any]:
        uri = f"http://mlflow-user:s3cret-pass@127.0.0.1:{free_port()}"  # nothing listens
        return {"tracking": "mlflow", "mlflow_tracking_uri": SecretStr(uri)}

    async def test_a_failing_mlflow_shows_its_error_without_the_uris_credentials(
        self, client: httpx.AsyncClient, accounts: dict[str, Account]
    ) -> None:
        run = await train_run(client, accounts["editor"], "secret-uri")
        assert run["status"] == "succeeded"
        entry = await tracking_of(client, accounts["viewer"], run["id"], "mlflow", "retrying")
        assert entry["error"]
        shown = await client.get(f"/api/v1/runs/{run['id']}", headers=accounts["viewer"].headers)
        assert "s3cret-pass" not in shown.text
        assert "mlflow-user" not in shown.text
