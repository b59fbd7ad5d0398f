"""Datasets: a registry of named data sets, their versions and lineage to runs.

`datasets`: a name (unique), a kind (tabular, images, ...), tags. `dataset_versions`: one
immutable version each, numbered per dataset (unique (dataset_id, version): two uploads at
once cannot take one number), either a registered `uri` or a file kept in the artifact store
(`stored_key`, `filename`), with its size, sha256 `checksum` and `meta` (a CSV's columns).
`source_run_id`: the run whose task logged it, if one did. `dataset_lineage`: which attempt
read or wrote which version, once per attempt, version and direction.

Revision ID: 0013
Revises: 0009_daily
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plait.db.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("uri", sa.Text),
        sa.Column("stored_key", sa.Text),
        sa.Column("filename", sa.String(255)),
        sa.Column("ground_truth_uri", sa.Text),
        sa.Column("size", sa.BigInteger),
        sa.Column("checksum", sa.String(64)),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("source_run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.UniqueConstraint("dataset_id", "version"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_dataset_versions_source_run_id", "dataset_versions", ["source_run_id"])
    op.create_table(
        "dataset_lineage",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("task_key", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column(
            "dataset_version_id",
            sa.Integer,
            sa.ForeignKey("dataset_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("run_id", "task_key", "attempt", "dataset_version_id", "direction"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_dataset_lineage_run_id", "dataset_lineage", ["run_id"])
    op.create_index(
        "ix_dataset_lineage_dataset_version_id", "dataset_lineage", ["dataset_version_id"]
    )


def downgrade() -> None:
    op.drop_table("dataset_lineage")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
