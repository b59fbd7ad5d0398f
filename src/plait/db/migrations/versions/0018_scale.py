"""Indexes for a million runs.

The runs list filtered by status, by trigger, or by workflow and status, newest first, was
served by an index on the filter alone and sorted every matching row (or scanned the whole
`ix_runs_created` for a rare value): each filter now has an index that ends with
(created_at, id), the list's order, so a page reads only its rows. They replace
`ix_runs_status` and `ix_runs_workflow_status`, which are their prefixes.

`ix_metrics_run_key_id` (run_id, key, id, value) replaces `ix_metrics_run_key`: a run's
last value of each key and the min/max per key (compare, final metrics) come from the index
alone.

On PostgreSQL the indexes are built inside the migration's transaction, which blocks writes
to runs and metrics while it runs (seconds for a million runs; see docs/performance.md).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_status_created", "runs", ["status", "created_at", "id"])
    op.create_index("ix_runs_trigger_created", "runs", ["trigger", "created_at", "id"])
    op.create_index(
        "ix_runs_workflow_status_created", "runs", ["workflow_id", "status", "created_at", "id"]
    )
    op.drop_index("ix_runs_status", table_name="runs")
    op.drop_index("ix_runs_workflow_status", table_name="runs")
    op.create_index("ix_metrics_run_key_id", "metrics", ["run_id", "key", "id", "value"])
    op.drop_index("ix_metrics_run_key", table_name="metrics")


def downgrade() -> None:
    op.create_index("ix_metrics_run_key", "metrics", ["run_id", "key"])
    op.drop_index("ix_metrics_run_key_id", table_name="metrics")
    op.create_index("ix_runs_workflow_status", "runs", ["workflow_id", "status"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.drop_index("ix_runs_workflow_status_created", table_name="runs")
    op.drop_index("ix_runs_trigger_created", table_name="runs")
    op.drop_index("ix_runs_status_created", table_name="runs")
