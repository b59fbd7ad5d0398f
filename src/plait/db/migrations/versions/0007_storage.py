"""The storage seam: artifact paths become store keys; log chunks for the database log store.

`artifacts.path` held the absolute path the task wrote on the server's disk; it now holds a
key relative to the artifact store, `<run>/<task>/<attempt>/<name>`, so any server reading
the same store finds the file. A path is converted when it lies in its own attempt's
artifacts folder (`.../artifacts/<run>/<task>/<attempt>/...`, wherever the data directory
was); any other is left as it was and is then served as not found, as before.

A downgrade keeps the keys: the data directory is not known here, and an older server then
serves those artifacts as not found (their files stay where they were).

Revision ID: 0007_storage
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_storage"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_chunks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("task_key", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("run_id", "task_key", "attempt", "start"),
        sqlite_autoincrement=True,
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, run_id, task_key, attempt, path FROM artifacts"))
    for artifact_id, run_id, task_key, attempt, path in rows.all():
        key = to_key(path, run_id, task_key, attempt)
        if key is not None:
            bind.execute(
                sa.text("UPDATE artifacts SET path = :key WHERE id = :id"),
                {"key": key, "id": artifact_id},
            )


def downgrade() -> None:
    op.drop_table("log_chunks")


def to_key(path: str, run_id: int, task_key: str, attempt: int) -> str | None:
    """The store key of an absolute artifact path, if it lies in its attempt's folder."""
    marker = f"/artifacts/{run_id}/{task_key}/{attempt}/"
    at = path.rfind(marker)
    if not path.startswith("/") or at < 0:
        return None
    rest = path[at + len(marker) :]
    if not rest or any(part in ("", ".", "..") for part in rest.split("/")):
        return None
    return f"{run_id}/{task_key}/{attempt}/{rest}"
