"""Daily use: task progress on attempts, and backfills.

`task_attempts.progress` / `progress_message` / `progress_at`: the last `plait.progress()` a
running task reported (a fraction in [0, 1], a short message, when); `progress_event_at`: when
the last `task.progress` event about it went out (a progress the events have not told yet goes
out with the attempt's next report, its heartbeat at the latest).

`ix_runs_workflow_id` (workflow_id, id): a workflow's newest runs (its grid, its runs list)
without sorting all of them.

`backfills`: a group of runs, one per fire time of a workflow's schedule in a range, run at
most `max_parallel` at a time. `runs.backfill_id` names the backfill that made a run (set to
null if the backfill row goes). `backfills.skipped`: the fire times in its range that had a
run already (cron's or an earlier backfill's), not made again.

Revision ID: 0009_daily
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plait.db.types import UTCDateTime

revision = "0009_daily"
down_revision = "0008"
branch_labels = None
depends_on = None

# A batch operation on SQLite rebuilds the table: it must keep AUTOINCREMENT (see 0006).
_KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("task_attempts", table_kwargs=_KEEP) as batch:
        batch.add_column(sa.Column("progress", sa.Double))
        batch.add_column(sa.Column("progress_message", sa.Text))
        batch.add_column(sa.Column("progress_at", UTCDateTime()))
        batch.add_column(sa.Column("progress_event_at", UTCDateTime()))
    op.create_table(
        "backfills",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "workflow_id",
            sa.Integer,
            sa.ForeignKey("workflows.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("start_at", UTCDateTime(), nullable=False),
        sa.Column("end_at", UTCDateTime(), nullable=False),
        sa.Column("max_parallel", sa.Integer, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("skipped", sa.JSON, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_backfills_workflow_id", "backfills", ["workflow_id"])
    op.create_index("ix_backfills_status", "backfills", ["status"])
    with op.batch_alter_table("runs", table_kwargs=_KEEP) as batch:
        batch.add_column(sa.Column("backfill_id", sa.Integer))
        batch.create_foreign_key(
            "fk_runs_backfill_id_backfills", "backfills", ["backfill_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
        batch.create_index("ix_runs_backfill_id", ["backfill_id"])
        batch.create_index("ix_runs_workflow_id", ["workflow_id", "id"])


def downgrade() -> None:
    with op.batch_alter_table("runs", table_kwargs=_KEEP) as batch:
        batch.drop_index("ix_runs_workflow_id")
        batch.drop_index("ix_runs_backfill_id")
        batch.drop_constraint("fk_runs_backfill_id_backfills", type_="foreignkey")
        batch.drop_column("backfill_id")
    op.drop_index("ix_backfills_status", "backfills")
    op.drop_index("ix_backfills_workflow_id", "backfills")
    op.drop_table("backfills")
    with op.batch_alter_table("task_attempts", table_kwargs=_KEEP) as batch:
        batch.drop_column("progress_event_at")
        batch.drop_column("progress_at")
        batch.drop_column("progress_message")
        batch.drop_column("progress")
