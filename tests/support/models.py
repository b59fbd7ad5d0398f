"""Runs that train and log models, for the registry's tests and the UI's."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import Account

FINISHED = ("succeeded", "failed", "cancelled")

# A python task that trains a small classifier on iris and logs it. {sample} picks the
# sample's form; {extra} adds lines before the fit (a dataset read, say).
TRAIN = """
import plait
import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

iris = load_iris(as_frame=True)
X = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
y = iris.target
{extra}
params = plait.params()
plait.log_metric("accuracy", 0.5)
model = LogisticRegression(C=float(params.get("C", 1.0)), max_iter=500).fit({fit}, y)
plait.log_metric("accuracy", float(model.score({fit}, y)))
plait.log_metric("loss", 0.25, step=1)
plait.set_output("path", plait.log_model(model, "iris", sample={sample},
                                         description="iris classifier", tags=["demo"]))
"""


def train_code(sample: str = "dataframe", extra: str = "") -> str:
    fit = "X" if sample == "dataframe" else "X.to_numpy()"
    given = {"dataframe": "X[:5]", "numpy": "X.to_numpy()[:5]",
             "records": "X[:3].to_dict('records')"}[sample]  # fmt: skip
    return TRAIN.format(sample=given, fit=fit if sample != "records" else "X", extra=extra)


def py(key: str, code: str, *deps: str) -> dict[str, Any]:
    return {"key": key, "kind": "python", "code": code, "depends_on": list(deps)}


async def create(
    client: httpx.AsyncClient, who: Account, tasks: list[dict[str, Any]], name: str = "train"
) -> None:
    doc = {"name": name, "tasks": tasks, "params": {"C": {"type": "number", "default": 1.0}}}
    created = await client.post("/api/v1/workflows", json=doc, headers=who.headers)
    assert created.status_code == 201, created.text


async def run(
    client: httpx.AsyncClient,
    who: Account,
    name: str = "train",
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    started = await client.post(f"/api/v1/workflows/{name}/runs",
                                json={"params": params or {}}, headers=who.headers)  # fmt: skip
    assert started.status_code == 201, started.text
    return await wait(client, who, started.json()["id"])


async def wait(
    client: httpx.AsyncClient, who: Account, run_id: int, within: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found: dict[str, Any] = (
            await client.get(f"/api/v1/runs/{run_id}", headers=who.headers)
        ).json()
        if found["status"] in FINISHED:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} still {found['status']} after {within} s")


def error_of(found: dict[str, Any], key: str) -> str:
    task = next(t for t in found["tasks"] if t["key"] == key)
    return str(task["attempts"][-1]["error"])
