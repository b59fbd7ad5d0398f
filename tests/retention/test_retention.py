"""Retention on SQLite and PostgreSQL: exactly the old finished runs go, with every row that
names them and their folders; recent, unfinished, pinned and model-producing runs stay with
everything of theirs; a workflow's own retention overrides the instance's; a dry run changes
nothing and reports what the real pass then removes."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.engine import Database
from plait.db.models import AuditEvent, DatasetVersion
from plait.orchestration.retention import run_pass
from plait.settings import Settings
from tests.conftest import Account
from tests.support.retention import (
    NOW,
    Fixtures,
    add_run,
    fixtures,
    folders,
    references,
    row_counts,
    run_ids,
    workflow_id,
)
from tests.support.workflows import create_workflow

Accounts = dict[str, Account]


async def _world(
    app: FastAPI, client: httpx.AsyncClient, editor: Account
) -> tuple[dict[str, int], set[int], Fixtures]:
    """Runs of four workflows (the instance's 30 days, 1 day, 365 days, for ever): name ->
    id, and the ids that must go."""
    db: Database = app.state.plait.db
    data = app.state.plait.settings.data_dir
    await create_workflow(client, editor, name="plain")
    await create_workflow(client, editor, name="short", retention_days=1)
    await create_workflow(client, editor, name="long", retention_days=365)
    await create_workflow(client, editor, name="forever", retention_days=0)
    ids = {n: await workflow_id(db, n) for n in ("plain", "short", "long", "forever")}
    fx = await fixtures(db, ids["plain"])

    async def run(name: str, wf: str, **kw: object) -> None:
        runs[name] = await add_run(db, data, fx, ids[wf], **kw)  # type: ignore[arg-type]

    runs: dict[str, int] = {}
    await run("old_ok", "plain")
    await run("old_failed", "plain", status="failed")
    await run("old_never_started", "plain", status="cancelled", started=False)
    await run("recent", "plain", age_days=10)
    await run("old_running", "plain", status="running")
    await run("old_queued", "plain", status="queued", started=False)
    await run("old_pinned", "plain", pinned=True)
    await run("old_model", "plain", model="iris")
    await run("short_2d", "short", age_days=2)
    await run("short_12h", "short", age_days=0.5)
    await run("long_40d", "long")
    await run("long_400d", "long", age_days=400)
    await run("forever_400d", "forever", age_days=400)
    gone = {runs[n] for n in ("old_ok", "old_failed", "old_never_started", "short_2d",
                              "long_400d")}  # fmt: skip
    return runs, gone, fx


async def test_old_finished_runs_go_with_every_row_and_file(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, settings: Settings
) -> None:
    db: Database = app.state.plait.db
    runs, gone, _fx = await _world(app, client, accounts["editor"])
    before = await references(db)

    tally = await run_pass(db, settings, now=NOW)

    kept = set(runs.values()) - gone
    assert await run_ids(db) == kept
    after = await references(db)
    for column, held in after.items():
        if column == "dataset_versions.source_run_id":
            continue
        # No orphans: nothing names a removed run; a kept run keeps every row it had.
        assert set(held) <= kept, column
        assert held == [i for i in before[column] if i in kept], column
    async with db.read() as session:
        made = (await session.execute(select(DatasetVersion.source_run_id))).scalars().all()
    assert len(made) == 1 + len(runs)  # the dataset versions runs made are kept...
    assert sorted(i for i in made if i is not None) == sorted(kept)  # ...unlinked from gone runs
    for run_id in gone:
        assert folders(settings.data_dir, run_id) == [], run_id
    for run_id in kept:
        assert len(folders(settings.data_dir, run_id)) == 2, run_id
    assert tally.runs == 5 and tally.attempts == 10 and tally.metrics == 5
    assert tally.events == tally.deliveries == tally.hook_deliveries == tally.log_chunks == 5
    assert tally.files == 5 * 4 and tally.bytes == 5 * 2 * (100 + 50)
    async with db.read() as session:
        logged = (await session.execute(
            select(AuditEvent).where(AuditEvent.action == "retention.clean")
        )).scalars().all()  # fmt: skip
    assert [a.summary["runs"] for a in logged] == [5]  # one audit event per pass

    again = await run_pass(db, settings, now=NOW)
    assert again.counts() == {k: 0 for k in again.counts()}


async def test_a_dry_run_changes_nothing_and_reports_what_then_goes(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, settings: Settings
) -> None:
    db: Database = app.state.plait.db
    runs, gone, _fx = await _world(app, client, accounts["editor"])
    orphan = settings.data_dir / "runs" / "999999" / "fit" / "1"
    orphan.mkdir(parents=True)
    (orphan / "output.log").write_text("left behind by a crash")
    rows, refs = await row_counts(db), await references(db)

    dry = await run_pass(db, settings, now=NOW, dry_run=True)

    assert await row_counts(db) == rows and await references(db) == refs
    assert all(len(folders(settings.data_dir, i)) == 2 for i in runs.values())
    assert orphan.exists()
    assert dry.runs == len(gone) and dry.orphan_folders == 1

    real = await run_pass(db, settings, now=NOW)

    assert real.counts() == dry.counts()
    assert not (settings.data_dir / "runs" / "999999").exists()  # the crash's leftovers too


async def test_runs_go_in_batches(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, settings: Settings
) -> None:
    db: Database = app.state.plait.db
    await create_workflow(client, accounts["editor"], name="many")
    wf = await workflow_id(db, "many")
    fx = await fixtures(db, wf)
    made = [await add_run(db, settings.data_dir, fx, wf) for _ in range(5)]
    recent = await add_run(db, settings.data_dir, fx, wf, age_days=1)

    small = settings.model_copy(update={"retention_batch_size": 2})
    tally = await run_pass(db, small, now=NOW)

    assert len(tally.batches) == 3 and tally.runs == 5
    assert await run_ids(db) == {recent}
    assert all(folders(settings.data_dir, i) == [] for i in made)


async def test_the_instance_default_of_0_keeps_runs_of_workflows_without_their_own(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts, settings: Settings
) -> None:
    db: Database = app.state.plait.db
    runs, _gone, _fx = await _world(app, client, accounts["editor"])
    off = settings.model_copy(update={"retention_days": 0})

    tally = await run_pass(db, off, now=NOW)

    # Only the workflows with a retention of their own lose runs.
    assert await run_ids(db) == set(runs.values()) - {runs["short_2d"], runs["long_400d"]}
    assert tally.runs == 2
    # --older-than-days: this pass's default instead of the instance's
    wider = await run_pass(db, off, now=NOW, default_days=5)
    plain = {runs[n] for n in ("old_ok", "old_failed", "old_never_started", "recent")}
    assert wider.runs == 4 and not plain & await run_ids(db)
