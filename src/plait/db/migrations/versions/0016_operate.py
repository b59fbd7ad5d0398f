"""Retention: pins and a workflow's own retention.

`runs.pinned`: a run someone pinned (`POST /runs/{id}/pin`) is never removed by retention.
`workflows.retention_days`: the workflow's own retention (null: the instance's
`PLAIT_RETENTION_DAYS`; 0: keep its runs for ever); it repeats the spec's `retention_days`, as
the other workflow columns repeat parts of the spec, so the retention job reads it without
loading specs. `deliveries.run_id` and `hook_deliveries.run_id` get indexes: retention
removes a batch of runs' rows from them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: SQLite's batch copies the table and would lose its
    # AUTOINCREMENT (ids never reused, 0006).
    op.add_column(
        "runs", sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("workflows", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.create_index("ix_deliveries_run_id", "deliveries", ["run_id"])
    op.create_index("ix_hook_deliveries_run_id", "hook_deliveries", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_hook_deliveries_run_id", table_name="hook_deliveries")
    op.drop_index("ix_deliveries_run_id", table_name="deliveries")
    with op.batch_alter_table("workflows") as batch:
        batch.drop_column("retention_days")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("pinned")
