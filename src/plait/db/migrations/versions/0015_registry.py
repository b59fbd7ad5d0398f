"""A model version per artifact folder: `model_versions.artifact_key` is unique, so the same
`model` report applied twice (a worker's batch sent again while the first is still being
applied) cannot make two versions of one folder.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ux_model_versions_artifact_key", "model_versions", ["artifact_key"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_model_versions_artifact_key", table_name="model_versions")
