"""Runs, task attempts, metrics and artifacts; workflows learn their next fire time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plait.db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _run_ref() -> sa.Column[int]:
    return sa.Column(
        "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(sa.Column("next_fire_at", UTCDateTime()))
        batch.create_index("ix_workflows_next_fire_at", ["next_fire_at"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "workflow_id",
            sa.Integer,
            sa.ForeignKey("workflows.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("workflow_version", sa.Integer, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("triggered_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("scheduled_for", UTCDateTime()),
        sa.Column("rerun_of", sa.Integer),
        sa.Column("cancel_requested_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.UniqueConstraint("workflow_id", "idempotency_key"),
        sa.UniqueConstraint("workflow_id", "scheduled_for"),
    )
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_created", "runs", ["created_at", "id"])
    op.create_index("ix_runs_workflow_status", "runs", ["workflow_id", "status"])
    op.create_table(
        "task_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        _run_ref(),
        sa.Column("task_key", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("not_before", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("queued_at", UTCDateTime()),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("timeout_at", UTCDateTime()),
        sa.Column("heartbeat_at", UTCDateTime()),
        sa.Column("worker", sa.String(200)),
        sa.Column("pid", sa.Integer),
        sa.Column("exit_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.UniqueConstraint("run_id", "task_key", "attempt"),
    )
    op.create_index("ix_task_attempts_run_id", "task_attempts", ["run_id"])
    op.create_index("ix_task_attempts_status", "task_attempts", ["status"])
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True),
        _run_ref(),
        sa.Column("task_key", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_metrics_run_key", "metrics", ["run_id", "key"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True),
        _run_ref(),
        sa.Column("task_key", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_artifacts_run_id", "artifacts", ["run_id"])


def downgrade() -> None:
    op.drop_table("artifacts")
    op.drop_table("metrics")
    op.drop_table("task_attempts")
    op.drop_table("runs")
    with op.batch_alter_table("workflows") as batch:
        batch.drop_index("ix_workflows_next_fire_at")
        batch.drop_column("next_fire_at")
