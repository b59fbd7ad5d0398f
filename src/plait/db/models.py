"""ORM tables. Schema changes go through a migration in `migrations/versions/`."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from plait.db.types import UTCDateTime, utcnow

# AUTOINCREMENT on SQLite: an id once handed out is never handed out again, even after its
# row (the newest one, say) is deleted. Without it SQLite reuses the highest free id, and
# whatever outlived the row (a cached plan, a token, files on disk) would meet a stranger.
# PostgreSQL sequences never go back on their own.
AUTOINCREMENT = {"sqlite_autoincrement": True}


def new_auth_stamp() -> str:
    return secrets.token_hex(16)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class User(Base):
    __tablename__ = "users"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Access tokens carry it; a new one (password set, account disabled) ends every login.
    auth_stamp: Mapped[str] = mapped_column(String(32), default=new_auth_stamp)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RefreshToken(Base):
    """A refresh token, stored as a SHA-256 hash. Tokens of one login share a `family`."""

    __tablename__ = "refresh_tokens"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ApiToken(Base):
    """A long-lived token for automation, stored as a SHA-256 hash; `prefix` identifies it."""

    __tablename__ = "api_tokens"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # A worker token acts only as a worker, on the execution API (never as its user).
    worker: Mapped[bool] = mapped_column(default=False, server_default=false())


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_target", "target_type", "target_id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Workflow(Base):
    """The current state of a workflow. `spec` is the definition; the other columns that
    repeat parts of it exist for filtering and listing without loading task code."""

    __tablename__ = "workflows"
    __table_args__ = (
        Index("ix_workflows_created", "created_at", "id"),
        Index("ix_workflows_updated", "updated_at", "id"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    schedule: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    paused: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    current_version: Mapped[int] = mapped_column(default=1)
    spec: Mapped[dict[str, Any]]
    next_fire_at: Mapped[datetime | None] = mapped_column(index=True)
    # The spec's retention_days (0016): null follows PLAIT_RETENTION_DAYS, 0 keeps for ever.
    retention_days: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowTag(Base):
    __tablename__ = "workflow_tags"

    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class WorkflowVersion(Base):
    """An immutable snapshot of a workflow definition."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "version"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int]
    spec: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[dict[str, Any] | None]


class Run(Base):
    """One execution of one workflow version."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("workflow_id", "idempotency_key"),
        UniqueConstraint("workflow_id", "scheduled_for"),
        Index("ix_runs_created", "created_at", "id"),
        Index("ix_runs_workflow_id", "workflow_id", "id"),  # a workflow's newest runs
        # 0017: statistics, from the index alone (docs/stats.md)
        Index("ix_runs_window", "created_at", "status", "workflow_id", "started_at", "finished_at"),
        Index(
            "ix_runs_workflow_window",
            "workflow_id",
            "created_at",
            "status",
            "started_at",
            "finished_at",
        ),
        # 0018: the runs list filtered by status, trigger, workflow and status, newest first
        # (and the scheduler's running runs by status or by workflow and status)
        Index("ix_runs_status_created", "status", "created_at", "id"),
        Index("ix_runs_trigger_created", "trigger", "created_at", "id"),
        Index("ix_runs_workflow_status_created", "workflow_id", "status", "created_at", "id"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    workflow_version: Mapped[int]
    params: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    triggered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    scheduled_for: Mapped[datetime | None]
    rerun_of: Mapped[int | None]
    upstream_run_id: Mapped[int | None] = mapped_column(index=True)  # the run that chained it
    backfill_id: Mapped[int | None] = mapped_column(
        ForeignKey("backfills.id", ondelete="SET NULL"), index=True
    )
    sweep_id: Mapped[int | None] = mapped_column(
        ForeignKey("sweeps.id", ondelete="SET NULL"), index=True
    )
    cancel_requested_at: Mapped[datetime | None]
    pinned: Mapped[bool] = mapped_column(default=False, server_default=false())  # 0016
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class TaskAttempt(Base):
    """One try of one task in one run. A retry is a new row with the next `attempt` number."""

    __tablename__ = "task_attempts"
    __table_args__ = (UniqueConstraint("run_id", "task_key", "attempt"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    task_key: Mapped[str] = mapped_column(String(100))
    attempt: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), index=True)
    not_before: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    timeout_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    # The worker token that claimed it: only that token may report for it.
    worker_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )
    pid: Mapped[int | None]
    exit_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The last plait.progress() of the task: a fraction in [0, 1], a short message, when.
    progress: Mapped[float | None]
    progress_message: Mapped[str | None] = mapped_column(Text)
    progress_at: Mapped[datetime | None]
    progress_event_at: Mapped[datetime | None]  # the last task.progress event about it


class Backfill(Base):
    """Runs for the fire times of a workflow's schedule in [start_at, end_at], made at once
    and started at most `max_parallel` at a time; `status` rolls up when they have ended."""

    __tablename__ = "backfills"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    max_parallel: Mapped[int]
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Fire times (ISO, UTC) that had a run already: not made again.
    skipped: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Worker(Base):
    """A remote worker process as its last heartbeat described it."""

    __tablename__ = "workers"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    hostname: Mapped[str] = mapped_column(String(200))
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)
    concurrency: Mapped[int]
    running: Mapped[list[int]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Metric(Base):
    __tablename__ = "metrics"
    # 0018: covering, so a run's last value and min/max per key (compare) read no table rows
    __table_args__ = (Index("ix_metrics_run_key_id", "run_id", "key", "id", "value"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    task_key: Mapped[str] = mapped_column(String(100))
    attempt: Mapped[int]
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[float]
    step: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    task_key: Mapped[str] = mapped_column(String(100))
    attempt: Mapped[int]
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LogChunk(Base):
    """A piece of an attempt's output, for `PLAIT_LOG_STORE=database` (servers on several
    machines read what any worker wrote). Chunks of one attempt follow each other: the
    next one starts where the last one ends."""

    __tablename__ = "log_chunks"
    __table_args__ = (UniqueConstraint("run_id", "task_key", "attempt", "start"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    task_key: Mapped[str] = mapped_column(String(100))
    attempt: Mapped[int]
    start: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Event(Base):
    """The transactional outbox: every change worth telling, written in the change's own
    transaction; a dispatcher publishes committed rows in id order."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_published", "published_at"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    type: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[int | None] = mapped_column(index=True)
    run_id: Mapped[int | None] = mapped_column(index=True)
    user_id: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    published_at: Mapped[datetime | None]


class Channel(Base):
    """Where notifications go. `secret` (a webhook URL, a token, a password, a signing key)
    is write-only through the API."""

    __tablename__ = "channels"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rule(Base):
    """Which events go to which channel: scope (all, one workflow, a tag) x event types."""

    __tablename__ = "rules"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(16))
    scope_value: Mapped[str | None] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One notification to one channel, with its attempts and outcome."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("rule_id", "event_type", "run_id", "dedupe"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"))
    event_type: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(index=True)  # 0016: retention
    dedupe: Mapped[str] = mapped_column(String(100), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    response_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class Hook(Base):
    """An inbound trigger: a signed POST to /api/v1/hooks/{public_id} starts a run."""

    __tablename__ = "hooks"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    secret: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HookDelivery(Base):
    """A delivery id seen on a hook: the same one twice starts one run."""

    __tablename__ = "hook_deliveries"
    __table_args__ = (UniqueConstraint("hook_id", "delivery_id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    hook_id: Mapped[int] = mapped_column(ForeignKey("hooks.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[int | None] = mapped_column(index=True)  # 0016: retention
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- templates (issue 11) ---


class Template(Base):
    """A reusable workflow spec (with its params schema) saved by a user. The built-in
    catalog is not stored here: it ships as files in `plait.templates.catalog`."""

    __tablename__ = "templates"
    __table_args__ = (Index("ix_templates_name_id", "name", "id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40), index=True)
    author: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    public: Mapped[bool] = mapped_column(default=True)
    usage_count: Mapped[int] = mapped_column(default=0)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- sweeps (issue 11) ----------------------------------------------------------------------


class Sweep(Base):
    """Runs of one workflow, one per combination of params (a grid or a seeded random
    search), started at most `max_parallel` at a time; `status` rolls up when they have
    ended. `spec` keeps what was asked (grid or random, base params) to show it again."""

    __tablename__ = "sweeps"
    __table_args__ = (UniqueConstraint("workflow_id", "idempotency_key"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # grid | random
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    max_parallel: Mapped[int]
    max_runs: Mapped[int | None]
    seed: Mapped[int | None]
    metric: Mapped[str | None] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(8))  # max | min
    status: Mapped[str] = mapped_column(String(16), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


# --- datasets (issue 11) ---------------------------------------------------------------------


class Dataset(Base):
    """A named registry entry; its contents are its versions."""

    __tablename__ = "datasets"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetVersion(Base):
    """One immutable version: a registered URI, or a file kept in the artifact store
    (`stored_key`). `version` counts up per dataset; the unique pair settles races."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int]
    uri: Mapped[str | None] = mapped_column(Text)
    stored_key: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(String(255))
    ground_truth_uri: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )


class DatasetLineage(Base):
    """A task attempt read or wrote a dataset version."""

    __tablename__ = "dataset_lineage"
    __table_args__ = (
        UniqueConstraint("run_id", "task_key", "attempt", "dataset_version_id", "direction"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    task_key: Mapped[str] = mapped_column(String(100))
    attempt: Mapped[int]
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- tracking (issue 11): forwarding runs to MLflow, W&B, ... --------------------------------


class TrackingExport(Base):
    """One run forwarded to one tracking adapter: what was sent so far (`cursor`), the
    external run it became (`external_id`), and when to try next after a failure."""

    __tablename__ = "tracking_exports"
    __table_args__ = (
        UniqueConstraint("run_id", "adapter"),
        Index("ix_tracking_exports_due", "status", "next_attempt_at"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    adapter: Mapped[str] = mapped_column(String(32))
    # pending: something to send; synced: all of a finished run is there
    status: Mapped[str] = mapped_column(String(16))
    # {"metric_id": last metric id sent, "artifact_id": ..., "params": bool, "final": status}
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    external_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)  # claims: the compare-and-set counter
    failures: Mapped[int] = mapped_column(default=0)  # tries failed in a row: the backoff
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- models, exports, deployments, chat (issue 12) -------------------------------------------


class Model(Base):
    """A named registry entry; what it holds is its versions."""

    __tablename__ = "models"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ModelVersion(Base):
    """One immutable version: a folder a task kept with `plait.log_model` (`artifact_key`, a
    key of the artifact store, under the run's keys), its flavor and signature, and what the
    run that made it was given (`params`) and measured (`metrics`, the last value per key).
    `stage` is the one mutable part; at most one version of a model is in `production`."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        Index("ix_model_versions_model_stage", "model_id", "stage"),
        Index("ux_model_versions_artifact_key", "artifact_key", unique=True),  # 0015
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int]
    flavor: Mapped[str] = mapped_column(String(16))  # sklearn | onnx | pickle
    artifact_key: Mapped[str] = mapped_column(Text)
    # [{"name": "model.joblib", "size": 1234, "sha256": "..."}]: hashed by the server when
    # registered, checked whenever the files are fetched (tasks can write artifact folders)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # {"inputs": [{"name", "type"}], "outputs": [{"name", "type"}], "sample": [{...}, ...]}
    signature: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # {"python": "3.11.7", "sklearn": "1.7.2", ...}: what the task ran with
    framework: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stage: Mapped[str] = mapped_column(String(16), default="none")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    task_key: Mapped[str | None] = mapped_column(String(100))
    attempt: Mapped[int | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stage_changed_at: Mapped[datetime | None]


class ModelStageChange(Base):
    """A version moved from one stage to another, by whom: the model page's history (the
    audit log has it too)."""

    __tablename__ = "model_stage_changes"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    from_stage: Mapped[str] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelExport(Base):
    """A version converted to another format (ONNX), kept in the artifact store under
    `stored_key`, with the largest absolute difference from the original's outputs on the
    signature's sample."""

    __tablename__ = "model_exports"
    __table_args__ = (UniqueConstraint("model_version_id", "format"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    format: Mapped[str] = mapped_column(String(16))  # onnx
    stored_key: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))
    max_abs_diff: Mapped[float | None] = mapped_column(Float)
    # {"opset": 17, "input": "X", "columns": [...], "converter": {"skl2onnx": "1.19"}}
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deployment(Base):
    """A model served under a name: a fixed `version_id`, or the version in `follow_stage`
    (moved when another is promoted). `status` and `serving_version_id` say what the serving
    process really holds; `error` why the last load failed (the old version keeps serving)."""

    __tablename__ = "deployments"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"), index=True)
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT")
    )
    follow_stage: Mapped[str | None] = mapped_column(String(16))
    # pending | loading | serving | failed | stopped
    status: Mapped[str] = mapped_column(String(16), default="pending")
    serving_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    error: Mapped[str | None] = mapped_column(Text)
    max_batch: Mapped[int] = mapped_column(default=1000)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatSession(Base):
    """A conversation with the run describer: its messages and the current proposal
    (`state`), visible to the user who started it only."""

    __tablename__ = "chat_sessions"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
