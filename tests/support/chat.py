"""The chat tests' world: workflows with params schemas (iris training, CSV validation,
batch inference, and iris scoring, whose name shares a word with iris training) and two
datasets, made through the API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import Account

# The task prints what it was given and checks it got the dataset it was asked for.
TRAIN_CODE = """import plait
p = plait.params()
assert p["dataset"] == "flowers", p
print("trees", p["n_estimators"], "depth", p["max_depth"])
"""
WORKFLOWS: list[dict[str, Any]] = [
    {
        "name": "iris-training",
        "description": "Train a random forest classifier on the iris flowers",
        "params": {
            "n_estimators": {"type": "integer", "default": 100, "minimum": 1, "maximum": 1000,
                             "description": "Trees in the forest."},
            "max_depth": {"type": "integer", "default": 3, "minimum": 1, "maximum": 32,
                          "description": "Deepest a tree may grow."},
            "test_size": {"type": "number", "default": 0.25, "minimum": 0.05, "maximum": 0.9,
                          "description": "Share of the rows held out for evaluation."},
            "learning_rate": {"type": "number", "default": 0.1, "minimum": 0.00001,
                              "maximum": 1, "description": "Shrinkage."},
            "seed": {"type": "integer", "default": 0, "minimum": 0},
            "dataset": {"type": "string", "required": True, "description": "What to train on."},
            "dataset_version": {"type": "integer", "minimum": 1},
        },
        "tasks": [{"key": "fit", "kind": "python", "code": TRAIN_CODE}],
    },
    {
        "name": "csv-validation",
        "description": "Check a CSV file: its columns, types and empty cells",
        "params": {
            "csv_path": {"type": "string", "required": True, "description": "The file."},
            "max_null_fraction": {"type": "number", "default": 0.0, "minimum": 0, "maximum": 1,
                                  "description": "Largest share of empty cells."},
            "on_failure": {"type": "string", "default": "fail", "enum": ["fail", "warn"]},
            "timeout_seconds": {"type": "integer", "default": 600, "minimum": 1,
                                "maximum": 86400,
                                "description": "Longest the check may take, in seconds."},
        },
        "tasks": [{"key": "check", "kind": "shell", "command": "echo checked"}],
    },
    {
        "name": "batch-inference",
        "description": "Score a dataset with a trained model in batches",
        "params": {
            "batch_size": {"type": "integer", "default": 1000, "minimum": 1, "maximum": 100000,
                           "description": "Rows scored at a time."},
            "model_name": {"type": "string", "default": "iris"},
            "dataset": {"type": "string", "default": "customers"},
            "dataset_version": {"type": "integer", "minimum": 1},
        },
        "tasks": [{"key": "score", "kind": "shell", "command": "echo scored"}],
    },
    {
        "name": "iris-scoring",
        "description": "Score new flowers with the iris model",
        "params": {"threshold": {"type": "number", "default": 0.5, "minimum": 0, "maximum": 1}},
        "tasks": [{"key": "score", "kind": "shell", "command": "echo scored"}],
    },
]  # fmt: skip
DATASETS = {"flowers": 3, "customers": 1}  # name -> versions


async def make_world(client: httpx.AsyncClient, who: Account) -> None:
    for doc in WORKFLOWS:
        made = await client.post("/api/v1/workflows", json=doc, headers=who.headers)
        assert made.status_code == 201, made.text
    for name, count in DATASETS.items():
        made = await client.post("/api/v1/datasets", json={"name": name}, headers=who.headers)
        assert made.status_code == 201, made.text
        for n in range(count):
            added = await client.post(f"/api/v1/datasets/{name}/versions",
                                      files={"file": ("d.csv", f"a\n{n}\n".encode())},
                                      headers=who.headers)  # fmt: skip
            assert added.status_code == 201, added.text


async def say(
    client: httpx.AsyncClient, who: Account, message: str, session_id: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:  # fmt: skip
    body: dict[str, Any] = {"message": message}
    if session_id is not None:
        body["session_id"] = session_id
    return await client.post("/api/v1/chat", json=body, headers={**who.headers, **(headers or {})})


async def until_ended(
    client: httpx.AsyncClient, who: Account, run_id: int, within: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        run: dict[str, Any] = (
            await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)
        ).json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, f"run still {run['status']} after {within} s"
        await asyncio.sleep(0.1)
