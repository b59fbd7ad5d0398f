"""The event outbox, notification channels/rules/deliveries, inbound hooks, run lineage.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plait.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _owner() -> sa.Column[int]:
    return sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"))


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.Integer),
        sa.Column("run_id", sa.Integer),
        sa.Column("user_id", sa.Integer),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("published_at", UTCDateTime()),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_workflow_id", "events", ["workflow_id"])
    op.create_index("ix_events_run_id", "events", ["run_id"])
    op.create_index("ix_events_published", "events", ["published_at"])
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("enabled", sa.Boolean, nullable=False),
        _owner(),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column(
            "channel_id",
            sa.Integer,
            sa.ForeignKey("channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("scope_value", sa.String(100)),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        _owner(),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_rules_channel_id", "rules", ["channel_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "channel_id",
            sa.Integer,
            sa.ForeignKey("channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("rule_id", sa.Integer, sa.ForeignKey("rules.id", ondelete="SET NULL")),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer),
        sa.Column("dedupe", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("response_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
        sa.UniqueConstraint("rule_id", "event_type", "run_id", "dedupe"),
    )
    op.create_index("ix_deliveries_channel_id", "deliveries", ["channel_id"])
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "hooks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("public_id", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column(
            "workflow_id",
            sa.Integer,
            sa.ForeignKey("workflows.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("token_hash", sa.String(64)),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        _owner(),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_hooks_workflow_id", "hooks", ["workflow_id"])
    op.create_table(
        "hook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "hook_id", sa.Integer, sa.ForeignKey("hooks.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("delivery_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.Integer),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("hook_id", "delivery_id"),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("upstream_run_id", sa.Integer))
        batch.create_index("ix_runs_upstream_run_id", ["upstream_run_id"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_upstream_run_id")
        batch.drop_column("upstream_run_id")
    for table in ("hook_deliveries", "hooks", "deliveries", "rules", "channels", "events"):
        op.drop_table(table)
