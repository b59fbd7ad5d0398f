"""Statistics read from indexes alone.

`ix_runs_window` (created_at, status, workflow_id, started_at, finished_at): the instance's
runs of a time window with every column the statistics read (status, workflow, duration), so
they are counted, grouped and sorted without reading the table's rows.
`ix_runs_workflow_window` (workflow_id, created_at, status, started_at, finished_at): the
same for one workflow's runs.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

WINDOW = ["created_at", "status", "workflow_id", "started_at", "finished_at"]
WORKFLOW_WINDOW = ["workflow_id", "created_at", "status", "started_at", "finished_at"]


def upgrade() -> None:
    op.create_index("ix_runs_window", "runs", WINDOW)
    op.create_index("ix_runs_workflow_window", "runs", WORKFLOW_WINDOW)


def downgrade() -> None:
    op.drop_index("ix_runs_workflow_window", table_name="runs")
    op.drop_index("ix_runs_window", table_name="runs")
