"""The Grafana dashboard in docs/ asks only for metrics a running server really exposes (after
it ran a workflow), with the suffixes their types give them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Account
from tests.support.runs import trigger, wait_run
from tests.support.workflows import create_workflow

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "plait-dashboard.json"
NAME = re.compile(r"\b(plait_[a-z0-9_]+)\b")
SUFFIXES = {"_bucket": "histogram", "_sum": "histogram", "_count": "histogram",
            "_total": "counter"}  # fmt: skip


def expressions(panels: list[dict[str, Any]]) -> Iterator[str]:
    for panel in panels:
        yield from (t["expr"] for t in panel.get("targets", []))
        yield from expressions(panel.get("panels", []))


def dashboard_metrics() -> set[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = list(expressions(doc["panels"]))
    assert len(exprs) >= 20, "the dashboard lost its panels"
    return {name for expr in exprs for name in NAME.findall(expr)}


def exposed(text: str) -> tuple[dict[str, str], set[str]]:
    """The families (name -> type) and sample names of a scrape."""
    families = list(text_string_to_metric_families(text))
    samples = {s.name for family in families for s in family.samples}
    return {f.name: f.type for f in families}, samples


def is_exposed(name: str, families: dict[str, str], samples: set[str]) -> bool:
    """A sample seen, or a family of the type the name's suffix implies (a labelled counter
    nobody has moved yet, e.g. a deployment's, has a family but no samples)."""
    if name in samples or families.get(name) == "gauge":
        return True
    return any(
        name.endswith(suffix) and families.get(name.removesuffix(suffix)) == kind
        for suffix, kind in SUFFIXES.items()
    )


def test_the_dashboard_names_every_area_of_the_issue() -> None:
    names = dashboard_metrics()
    for needed in ("plait_http_requests_total", "plait_http_request_duration_seconds_bucket",
                   "plait_runs_total", "plait_attempt_duration_seconds_bucket",
                   "plait_queue_depth", "plait_dispatches_total",
                   "plait_scheduler_lag_seconds_bucket", "plait_events_published_total",
                   "plait_notification_deliveries_total", "plait_db_pool_checked_out",
                   "plait_serving_requests_total"):  # fmt: skip
        assert needed in names, needed


async def test_every_dashboard_metric_is_exposed_after_a_run(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    await create_workflow(client, editor)
    run = await trigger(client, editor, "train")
    assert (await wait_run(client, editor, run["id"]))[0]["status"] == "succeeded"
    response = await client.get("/metrics", headers=accounts["admin"].headers)
    assert response.status_code == 200
    families, samples = exposed(response.text)
    missing = sorted(n for n in dashboard_metrics() if not is_exposed(n, families, samples))
    assert not missing, f"the dashboard asks for metrics the server does not expose: {missing}"
    # What a run moves has samples, not only a family.
    moved = ("plait_runs_total", "plait_attempt_duration_seconds_bucket",
             "plait_dispatches_total", "plait_http_request_duration_seconds_bucket")  # fmt: skip
    assert not [name for name in moved if name not in samples]


def test_a_name_the_server_does_not_expose_is_caught() -> None:
    text = "# HELP plait_x_total x\n# TYPE plait_x_total counter\n"
    families, samples = exposed(text)
    assert is_exposed("plait_x_total", families, samples)
    assert not is_exposed("plait_x_bucket", families, samples)  # a counter has no buckets
    assert not is_exposed("plait_y_total", families, samples)
