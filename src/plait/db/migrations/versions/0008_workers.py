"""Worker tokens and the workers table, for the execution API.

`api_tokens.worker`: a token that acts only as a remote worker (on /api/v1/exec), never as the
admin who made it. `task_attempts.worker_token_id`: the worker token that claimed the attempt;
only it may report for it. `workers`: each worker process as its last heartbeat described it.

Revision ID: 0008
Revises: 0006 (re-chained after 0007 when the branches merge)
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plait.db.types import UTCDateTime

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

# A batch operation on SQLite rebuilds the table: it must keep AUTOINCREMENT (see 0006).
_KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", table_kwargs=_KEEP) as batch:
        batch.add_column(sa.Column("worker", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("task_attempts", table_kwargs=_KEEP) as batch:
        batch.add_column(sa.Column("worker_token_id", sa.Integer))
        batch.create_foreign_key(
            "fk_task_attempts_worker_token_id_api_tokens",
            "api_tokens",
            ["worker_token_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("hostname", sa.String(200), nullable=False),
        sa.Column("queues", sa.JSON, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("running", sa.JSON, nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_workers_last_seen", "workers", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_workers_last_seen", "workers")
    op.drop_table("workers")
    with op.batch_alter_table("task_attempts", table_kwargs=_KEEP) as batch:
        batch.drop_constraint("fk_task_attempts_worker_token_id_api_tokens", type_="foreignkey")
        batch.drop_column("worker_token_id")
    with op.batch_alter_table("api_tokens", table_kwargs=_KEEP) as batch:
        batch.drop_column("worker")
