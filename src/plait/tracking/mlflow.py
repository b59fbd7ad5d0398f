"""MLflow, through its client (MlflowClient): one MLflow run per Plait run, tagged with the
Plait run id so that a try whose new run id was not kept finds that run instead of making
a second one."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, ClassVar

from plait.settings import Settings
from plait.tracking.base import AdapterUnavailable, ArtifactFile, Point, RunInfo

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

RUN_TAG = "plait.run_id"
MAX_PARAM = 6000  # MLflow's longest param value
PARAMS_PER_CALL = 100  # MLflow's log_batch bound on params
STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}
# The client's own retries (7, backoff doubling from 2 s) would hold a forward for minutes
# on a server that is down: the forwarder retries itself, with its own backoff. Defaults
# only: an operator's MLFLOW_HTTP_REQUEST_* settings win.
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def _ms(run: RunInfo) -> int:
    return int((run.started_at or run.created_at).timestamp() * 1000)


class MlflowAdapter:
    name: ClassVar[str] = "mlflow"
    live: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        for name, value in CLIENT_ENV.items():
            os.environ.setdefault(name, value)
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise AdapterUnavailable(
                f"mlflow is not installed ({exc}); install plait[tracking]"
            ) from None
        uri = settings.mlflow_tracking_uri
        self.client: MlflowClient = MlflowClient(uri.get_secret_value() if uri else None)
        self.experiment = settings.mlflow_experiment

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except MlflowException:  # made meanwhile by another forwarder
            again = self.client.get_experiment_by_name(name)
            if again is None:
                raise
            return str(again.experiment_id)

    def start(self, run: RunInfo, external_id: str | None) -> str:
        if external_id:
            return external_id
        experiment = self._experiment_id(self.experiment or run.workflow)
        query = f"tags.`{RUN_TAG}` = '{run.run_id}'"
        found = self.client.search_runs([experiment], filter_string=query, max_results=1)
        if found:
            return str(found[0].info.run_id)
        tags = {**run.tags, RUN_TAG: str(run.run_id)}
        made = self.client.create_run(
            experiment, start_time=_ms(run), tags=tags, run_name=f"{run.workflow}-{run.run_id}"
        )
        return str(made.info.run_id)

    def log_params(self, external_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _param_text(v)) for k, v in sorted(params.items())]
        for i in range(0, len(items), PARAMS_PER_CALL):
            self.client.log_batch(external_id, params=items[i : i + PARAMS_PER_CALL])

    def log_metrics(self, external_id: str, points: list[Point]) -> None:
        from mlflow.entities import Metric

        metrics = [Metric(p.key, p.value, p.timestamp, p.step) for p in points]
        self.client.log_batch(external_id, metrics=metrics)

    def log_artifacts(self, external_id: str, files: list[ArtifactFile]) -> None:
        for file in files:
            if file.path.is_dir():
                self.client.log_artifacts(external_id, str(file.path), artifact_path=file.name)
            else:
                self.client.log_artifact(external_id, str(file.path))

    def finish(self, external_id: str, run: RunInfo) -> None:
        end = int(run.finished_at.timestamp() * 1000) if run.finished_at else None
        self.client.set_tag(external_id, "plait.status", run.status)
        self.client.set_terminated(external_id, STATUS.get(run.status, "FINISHED"), end)


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text[:MAX_PARAM]
