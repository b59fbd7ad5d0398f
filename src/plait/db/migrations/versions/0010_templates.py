"""Templates: reusable workflow specs saved by users.

`templates`: a workflow spec as `plait export` writes it (its params schema inside), with a
name (unique), description, category, author (the creator's username when it was saved),
owner, whether everyone sees it (`public`; a private one is seen by its owner and admins) and
how many workflows were made from it (`usage_count`). The built-in catalog is not stored: it
ships with the package (`plait.templates.catalog`).

Revision ID: 0010
Revises: 0009_daily
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plait.db.types import UTCDateTime

revision = "0010"
down_revision = "0009_daily"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("usage_count", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_templates_name_id", "templates", ["name", "id"])
    op.create_index("ix_templates_category", "templates", ["category"])
    op.create_index("ix_templates_owner_id", "templates", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_templates_owner_id", "templates")
    op.drop_index("ix_templates_category", "templates")
    op.drop_index("ix_templates_name_id", "templates")
    op.drop_table("templates")
