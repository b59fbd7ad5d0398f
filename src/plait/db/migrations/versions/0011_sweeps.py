"""Sweeps: runs of a workflow, one per combination of params.

`sweeps`: a grid (cartesian product) or a seeded random search over a workflow's params,
what was asked in `spec`, run at most `max_parallel` at a time, its best run judged by
`metric` in `direction`; `idempotency_key` (unique per workflow): a POST sent again with the
same `Idempotency-Key` gets the sweep it made. `runs.sweep_id` names the sweep that made a
run (set to null if the sweep row goes).

Revision ID: 0011
Revises: 0009_daily
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plait.db.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# A batch operation on SQLite rebuilds the table: it must keep AUTOINCREMENT (see 0006).
_KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "workflow_id",
            sa.Integer,
            sa.ForeignKey("workflows.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("max_parallel", sa.Integer, nullable=False),
        sa.Column("max_runs", sa.Integer),
        sa.Column("seed", sa.Integer),
        sa.Column("metric", sa.String(200)),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.UniqueConstraint("workflow_id", "idempotency_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sweeps_workflow_id", "sweeps", ["workflow_id"])
    op.create_index("ix_sweeps_status", "sweeps", ["status"])
    with op.batch_alter_table("runs", table_kwargs=_KEEP) as batch:
        batch.add_column(sa.Column("sweep_id", sa.Integer))
        batch.create_foreign_key(
            "fk_runs_sweep_id_sweeps", "sweeps", ["sweep_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_runs_sweep_id", ["sweep_id"])


def downgrade() -> None:
    with op.batch_alter_table("runs", table_kwargs=_KEEP) as batch:
        batch.drop_index("ix_runs_sweep_id")
        batch.drop_constraint("fk_runs_sweep_id_sweeps", type_="foreignkey")
        batch.drop_column("sweep_id")
    op.drop_index("ix_sweeps_status", "sweeps")
    op.drop_index("ix_sweeps_workflow_id", "sweeps")
    op.drop_table("sweeps")
