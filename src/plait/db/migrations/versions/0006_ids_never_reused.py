"""Ids are never handed out twice; access tokens are bound to an account's `auth_stamp`.

On SQLite every table with an integer id is rebuilt with AUTOINCREMENT (without it SQLite
hands out the highest free id again after the newest row is deleted), and each table's
counter starts past the highest id it is known to have handed out: the rows still there and
the ids that other rows, the outbox and the audit log still mention. PostgreSQL sequences
never go back, so there the ids need nothing.

`users.auth_stamp`: a random value per account, carried by access tokens and replaced when the
account's logins must end.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Every table with an integer id but `events` (AUTOINCREMENT since 0005), parents first.
TABLES = (
    "users",
    "refresh_tokens",
    "api_tokens",
    "audit_events",
    "workflows",
    "workflow_versions",
    "runs",
    "task_attempts",
    "metrics",
    "artifacts",
    "channels",
    "rules",
    "deliveries",
    "hooks",
    "hook_deliveries",
)

# Where the id of a deleted row may still be read, besides the audit log.
MENTIONS: dict[str, list[str]] = {
    "users": ["SELECT max(user_id) FROM events"],
    "workflows": [
        "SELECT max(workflow_id) FROM events",
        "SELECT max(CAST(json_extract(source, '$.workflow_id') AS INTEGER)) FROM workflow_versions",
    ],
    "runs": [
        "SELECT max(run_id) FROM events",
        "SELECT max(run_id) FROM deliveries",
        "SELECT max(run_id) FROM hook_deliveries",
        "SELECT max(rerun_of) FROM runs",
        "SELECT max(upstream_run_id) FROM runs",
    ],
}
AUDIT_TARGETS = {
    "users": "user",
    "workflows": "workflow",
    "runs": "run",
    "api_tokens": "api_token",
    "channels": "channel",
    "rules": "rule",
    "hooks": "hook",
}


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("auth_stamp", sa.String(32)))
    random = "lower(hex(randomblob(16)))" if _sqlite() else "md5(random()::text || id::text)"
    op.execute(f"UPDATE users SET auth_stamp = {random}")  # noqa: S608 (no input)
    with op.batch_alter_table("users") as batch:
        batch.alter_column("auth_stamp", existing_type=sa.String(32), nullable=False)
    # Last: a batch operation on SQLite rebuilds the table without AUTOINCREMENT unless told.
    if _sqlite():
        _rebuild(autoincrement=True)
        _start_counters_past_known_ids()


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("auth_stamp")
    if _sqlite():
        _rebuild(autoincrement=False)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _rebuild(*, autoincrement: bool) -> None:
    # plait.db.migrate turns foreign keys off around migrations on SQLite: dropping the old
    # table would otherwise cascade into (delete) the rows that refer to it.
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def _start_counters_past_known_ids() -> None:
    bind = op.get_bind()
    for table in TABLES:
        queries = [f"SELECT max(id) FROM {table}", *MENTIONS.get(table, [])]  # noqa: S608
        if table in AUDIT_TARGETS:
            queries.append(
                "SELECT max(CAST(target_id AS INTEGER)) FROM audit_events "  # noqa: S608
                f"WHERE target_type = '{AUDIT_TARGETS[table]}' AND target_id GLOB '[0-9]*'"
            )
        highest = max((bind.execute(sa.text(q)).scalar() or 0 for q in queries), default=0)
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :seq)"),
            {"t": table, "seq": highest},
        )
