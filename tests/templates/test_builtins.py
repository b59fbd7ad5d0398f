"""Each built-in template, instantiated and run for real (local executor, a process per
task, the task sandbox): it succeeds and leaves what its description promises."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest

from plait.templates.catalog import builtins
from tests.conftest import Account
from tests.templates.conftest import artifacts, attempt, instantiate, metrics, run_to_end

Accounts = dict[str, Account]
# What these check is the tasks' work and the output, not the database: one is enough.
ONE_DATABASE = [
    pytest.mark.usefixtures("database_url"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
pytestmark = [pytest.mark.timeout(400), *ONE_DATABASE]  # timeout: see run_to_end (imports)


async def download(client: httpx.AsyncClient, who: Account, run_id: int, artifact: int) -> str:
    url = f"/api/v1/runs/{run_id}/artifacts/{artifact}"
    response = await client.get(url, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.text


def test_the_catalog_has_the_four_templates_in_their_categories() -> None:
    assert {name: b.category for name, b in builtins().items()} == {
        "batch-inference": "inference",
        "csv-validation": "data_pipeline",
        "hyperparameter-sweep": "ml_training",
        "sklearn-training": "ml_training",
    }


async def test_sklearn_training_trains_evaluates_and_keeps_the_model(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    made = await instantiate(client, ed, "builtin:sklearn-training", "iris-forest",
                             n_estimators=30, max_depth=3)  # fmt: skip
    assert made.status_code == 201, made.text
    run = await run_to_end(client, ed, "iris-forest")
    assert run["status"] == "succeeded", run
    assert run["params"]["n_estimators"] == 30
    found = await metrics(client, ed, run["id"])
    assert found["accuracy"][-1] > 0.85 and found["f1_macro"][-1] > 0.85
    kept = await artifacts(client, ed, run["id"])
    assert {"data.npz", "split.npz", "model.joblib", "evaluation.json"} <= set(kept)
    assert attempt(run, "split")["outputs"]["rows"] == {"train": 112, "test": 38}


async def test_csv_validation_passes_the_sample_and_reports(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    made = await instantiate(client, ed, "builtin:csv-validation", "check-customers")
    assert made.status_code == 201, made.text
    run = await run_to_end(client, ed, "check-customers")
    assert run["status"] == "succeeded", run
    kept = await artifacts(client, ed, run["id"])
    report = json.loads(await download(client, ed, run["id"], kept["report.json"]))
    assert report["rows"] == 16 and report["failed"] == 0 and report["passed"] > 10
    assert "0 failed" in await download(client, ed, run["id"], kept["report.html"])


async def test_csv_validation_fails_the_run_naming_the_failed_checks(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    ed = accounts["editor"]
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,age\n1,34\n2,\nx,40\n", encoding="utf-8")
    params = {"csv_path": str(bad), "required_columns": ["customer_id", "age", "country"],
              "column_types": {"customer_id": "integer", "age": "integer"}}  # fmt: skip
    made = await instantiate(client, ed, "builtin:csv-validation", "strict", **params)
    assert made.status_code == 201, made.text
    run = await run_to_end(client, ed, "strict")
    assert run["status"] == "failed"
    error = attempt(run, "report")["error"]
    assert "ValidationFailed: 3 check(s) failed" in error, error
    assert "column present country" in error and "nulls age" in error
    assert "type customer_id (not integer on line(s) 4)" in error
    kept = await artifacts(client, ed, run["id"])
    assert {"report.json", "report.html"} <= set(kept)  # the report is kept all the same

    warn = await instantiate(client, ed, "builtin:csv-validation", "lenient",
                             **params, on_failure="warn")  # fmt: skip
    assert warn.status_code == 201, warn.text
    run = await run_to_end(client, ed, "lenient")
    assert run["status"] == "succeeded", run
    assert (await metrics(client, ed, run["id"]))["failed_checks"] == [3.0]


async def test_hyperparameter_sweep_logs_the_metric_to_optimize(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    made = await instantiate(client, ed, "builtin:hyperparameter-sweep", "gbm",
                             n_estimators=20, learning_rate=0.2)  # fmt: skip
    assert made.status_code == 201, made.text
    run = await run_to_end(client, ed, "gbm")
    assert run["status"] == "succeeded", run
    found = await metrics(client, ed, run["id"])
    assert len(found["val_accuracy"]) == 20  # one point per stage, the last the model's
    assert found["val_accuracy"][-1] == attempt(run, "train")["outputs"]["val_accuracy"] > 0.9
    assert found["val_log_loss"][-1] < 0.5


async def test_batch_inference_trains_a_baseline_and_scores_the_csv(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    made = await instantiate(client, ed, "builtin:batch-inference", "score", batch_size=7)
    assert made.status_code == 201, made.text
    run = await run_to_end(client, ed, "score")
    assert run["status"] == "succeeded", run
    assert (await metrics(client, ed, run["id"]))["rows_scored"] == [20.0]
    kept = await artifacts(client, ed, run["id"])
    text = await download(client, ed, run["id"], kept["predictions.csv"])
    rows = {r["sample_id"]: r["prediction"] for r in csv.DictReader(io.StringIO(text))}
    assert len(rows) == 20
    assert (rows["s01"], rows["s06"], rows["s11"]) == ("setosa", "versicolor", "virginica")


async def test_batch_inference_uses_a_given_model_and_counts_skipped_rows(
    client: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    ed = accounts["editor"]
    trained = await instantiate(client, ed, "builtin:sklearn-training", "trainer",
                                n_estimators=10)  # fmt: skip
    assert trained.status_code == 201, trained.text
    run = await run_to_end(client, ed, "trainer")
    assert run["status"] == "succeeded", run
    model = attempt(run, "train")["outputs"]["model"]
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c,d\n5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n,1,1,1\n", encoding="utf-8")
    made = await instantiate(client, ed, "builtin:batch-inference", "score-mine",
                             model_path=model, csv_path=str(rows),
                             feature_columns=["a", "b", "c", "d"])  # fmt: skip
    assert made.status_code == 201, made.text
    run = await run_to_end(client, ed, "score-mine")
    assert run["status"] == "succeeded", run
    found = await metrics(client, ed, run["id"])
    assert (found["rows_scored"], found["rows_skipped"]) == ([2.0], [1.0])
    text = await download(
        client, ed, run["id"], (await artifacts(client, ed, run["id"]))["predictions.csv"]
    )
    assert [r["prediction"] for r in csv.DictReader(io.StringIO(text))] == ["0", "2"]
