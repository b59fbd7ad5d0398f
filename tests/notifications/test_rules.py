"""Events become deliveries: one per matching rule, once, with the facts a person needs."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from plait.db.engine import Database
from plait.db.models import Delivery
from tests.conftest import Account
from tests.notifications.conftest import api, channel, event, finished_run, handle, rule
from tests.support.workflows import create_workflow

Accounts = dict[str, Account]
TRACEBACK = 'Traceback (most recent call last):\n  File "<task fit>", line 3\nValueError: bad lr\n'


async def deliveries(db: Database) -> list[Delivery]:
    async with db.read() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


async def slack(client: httpx.AsyncClient, who: Account, name: str) -> dict[str, Any]:
    return await channel(
        client, who, name=name, kind="slack", secret=f"https://hooks.slack.com/services/{name}"
    )


async def test_a_failed_run_reaches_matching_rules_once_with_its_facts(
    client: httpx.AsyncClient, accounts: Accounts, db: Database
) -> None:
    editor = accounts["editor"]
    await create_workflow(client, editor)  # "train", tagged ml
    await create_workflow(client, editor, name="other", tags=["etl"])
    a, b = await slack(client, editor, "a"), await slack(client, editor, "b")
    everything = await rule(client, editor, a["id"], ["run.failed"])
    by_tag = await rule(client, editor, b["id"], ["run.failed"], scope="tag", scope_value="ml")
    await rule(client, editor, b["id"], ["run.failed"], scope="tag", scope_value="etl")
    await rule(client, editor, b["id"], ["run.failed"], scope="workflow", scope_value="other")
    await rule(client, editor, b["id"], ["run.succeeded"], scope="workflow", scope_value="train")
    await rule(client, editor, b["id"], ["run.failed"], enabled=False)
    run = await finished_run(
        db,
        "train",
        "failed",
        [
            ("load", "succeeded", None),
            ("fit", "failed", TRACEBACK),
            ("report", "upstream_failed", None),
        ],
    )
    row = await event(db, "run.failed", run, status="failed", previous="running")
    await handle(db, row)
    await handle(db, row)  # the dispatcher may hand an event over twice
    found = await deliveries(db)
    assert sorted((d.rule_id, d.channel_id) for d in found) == [
        (everything["id"], a["id"]),
        (by_tag["id"], b["id"]),
    ]
    facts = found[0].payload
    assert found[0].status == "pending" and found[0].attempts == 0
    assert facts == {
        "event": "run.failed",
        "workflow": "train",
        "workflow_id": run.workflow_id,
        "run_id": run.run_id,
        "status": "failed",
        "trigger": "manual",
        "started_at": facts["started_at"],
        "finished_at": facts["finished_at"],
        "duration_seconds": 75.0,
        "task": "fit",
        "attempt": 1,
        "error": "ValueError: bad lr",
        "other_failed_tasks": [],
    }


async def test_a_retried_run_that_fails_again_is_news_again(
    client: httpx.AsyncClient, accounts: Accounts, db: Database
) -> None:
    editor = accounts["editor"]
    await create_workflow(client, editor)
    ch = await slack(client, editor, "a")
    await rule(client, editor, ch["id"], ["run.failed"])
    run = await finished_run(db, "train", "failed", [("fit", "failed", "boom")])
    for _ in range(2):
        await handle(db, await event(db, "run.failed", run))
    assert len(await deliveries(db)) == 2


async def test_task_retrying_carries_the_task_and_its_error(
    client: httpx.AsyncClient, accounts: Accounts, db: Database
) -> None:
    editor = accounts["editor"]
    await create_workflow(client, editor)
    ch = await slack(client, editor, "a")
    await rule(client, editor, ch["id"], ["task.retrying"])
    run = await finished_run(db, "train", "running", [("fit", "up_for_retry", TRACEBACK)])
    await handle(db, await event(db, "task.retrying", run, task_key="fit", attempt=1))
    [delivery] = await deliveries(db)
    assert delivery.event_type == "task.retrying"
    assert {k: delivery.payload[k] for k in ("task", "attempt", "error")} == {
        "task": "fit",
        "attempt": 1,
        "error": "ValueError: bad lr",
    }


async def test_other_events_disabled_channels_and_unwanted_types_queue_nothing(
    client: httpx.AsyncClient, accounts: Accounts, db: Database
) -> None:
    editor = accounts["editor"]
    await create_workflow(client, editor)
    off = await slack(client, editor, "off")
    await api(client, editor, "PATCH", f"/channels/{off['id']}", {"enabled": False})
    await rule(client, editor, off["id"], ["run.failed"])
    on = await slack(client, editor, "on")
    await rule(client, editor, on["id"], ["run.cancelled"])
    run = await finished_run(db, "train", "failed", [("fit", "failed", "boom")])
    for kind in ("run.failed", "run.succeeded", "task.succeeded", "metric", "workflow.created"):
        await handle(db, await event(db, kind, run))
    assert await deliveries(db) == []
