"""Models, their exports, deployments and chat sessions.

`models`: a name (unique), description, tags. `model_versions`: numbered per model (unique
(model_id, version)), the artifact folder a task kept (`artifact_key`), flavor, signature, the
source run's params and last metrics, `stage` (none, staging, production, archived; the API
keeps one production version per model). `model_stage_changes`: every promotion. `model_exports`:
a version converted to another format (one per format), with the largest absolute difference
found on the signature's sample. `deployments`: a served model, pinned to a version or following
a stage, with what is really serving and why a load failed. `chat_sessions`: a user's
conversation with the run describer.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plait.db.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _user(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"))


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        _user("created_by"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("flavor", sa.String(16), nullable=False),
        sa.Column("artifact_key", sa.Text, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("signature", sa.JSON, nullable=False),
        sa.Column("framework", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.Column("task_key", sa.String(100)),
        sa.Column("attempt", sa.Integer),
        _user("created_by"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("stage_changed_at", UTCDateTime()),
        sa.UniqueConstraint("model_id", "version"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_model_stage", "model_versions", ["model_id", "stage"])
    op.create_table(
        "model_stage_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "model_version_id",
            sa.Integer,
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("from_stage", sa.String(16), nullable=False),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        _user("user_id"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_model_stage_changes_model_version_id", "model_stage_changes", ["model_version_id"]
    )
    op.create_table(
        "model_exports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "model_version_id",
            sa.Integer,
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("stored_key", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("max_abs_diff", sa.Float),
        sa.Column("meta", sa.JSON, nullable=False),
        _user("created_by"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("model_version_id", "format"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="RESTRICT"), nullable=False
        ),
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("model_versions.id", ondelete="RESTRICT")
        ),
        sa.Column("follow_stage", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "serving_version_id",
            sa.Integer,
            sa.ForeignKey("model_versions.id", ondelete="SET NULL"),
        ),
        sa.Column("error", sa.Text),
        sa.Column("max_batch", sa.Integer, nullable=False),
        _user("created_by"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_deployments_model_id", "deployments", ["model_id"])
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_chat_sessions_user_id", "chat_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_table("chat_sessions")
    op.drop_table("deployments")
    op.drop_table("model_exports")
    op.drop_table("model_stage_changes")
    op.drop_table("model_versions")
    op.drop_table("models")
