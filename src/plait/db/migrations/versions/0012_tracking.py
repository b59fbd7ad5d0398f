"""Tracking adapters: `tracking_exports`, one row per run and adapter (MLflow, W&B).

`cursor` says what was sent (the last metric and artifact ids, params once, the final
status); `external_id` is the run on the other side (an MLflow run id), so a resend never
makes a second one; `attempts` is the claim's compare-and-set counter, `failures` the tries
failed in a row (the backoff), `next_attempt_at` when the row is due (a lease while claimed).

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plait.db.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracking_exports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("adapter", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cursor", sa.JSON, nullable=False),
        sa.Column("external_id", sa.String(200)),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("run_id", "adapter"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tracking_exports_due", "tracking_exports", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_tracking_exports_due", "tracking_exports")
    op.drop_table("tracking_exports")
