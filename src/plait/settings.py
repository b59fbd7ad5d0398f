"""All configuration in one place: `PLAIT_*` environment variables, read once by the app factory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A server listening on every address is reached, on its own machine, at the loopback one.
_REACHABLE = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104


def default_data_dir() -> Path:
    return Path.home() / ".plait"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLAIT_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded database, the secret key and task data live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (sqlite+aiosqlite:/// or postgresql+asyncpg://). "
        "Default: SQLite file plait.db inside the data directory.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Key that signs access tokens. Default: generated once and kept in "
        "<data_dir>/secret.key (mode 0600).",
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password of the admin created on first start; generated and printed once "
        "when unset.",
    )
    access_token_minutes: int = Field(default=15, ge=1, description="Access token lifetime.")
    refresh_token_days: int = Field(default=30, ge=1, description="Refresh token lifetime.")
    login_failures_per_user: int = Field(
        default=10, ge=1, description="Failed logins allowed per username per window; then 429."
    )
    login_failures_per_address: int = Field(
        default=50, ge=1, description="Failed logins allowed per client address per window."
    )
    login_failure_window_seconds: float = Field(
        default=300, gt=0, description="How long a failed login counts against its limits."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Request bodies over this size get 413."
    )
    load_demo: bool = Field(
        default=True, description="Load the demo workflow on first start (an empty database)."
    )
    log_level: str = Field(default="INFO", description="Python logging level of the server.")
    executor: str = Field(
        default="local",
        description="Where tasks run: `local` (processes of this server) or `celery` (`plait "
        "worker` processes on any host, through the broker at PLAIT_BROKER_URL).",
    )
    broker_url: str | None = Field(
        default=None,
        description="The Celery broker of the `celery` executor and of `plait worker`: "
        "redis://host:6379/0 or amqp://user:password@host:5672//.",
    )
    broker_visibility_timeout: float = Field(
        default=3600.0,
        gt=0,
        description="Redis broker only: a message taken by a worker that died is delivered "
        "again after this many seconds (a second delivery of a started attempt does nothing).",
    )
    queue_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="Put before every queue name on the broker, so that several Plait "
        "installations can share one broker.",
    )
    scheduler: bool = Field(
        default=True, description="Run the scheduler in this server process (cron, run engine)."
    )
    max_parallel_tasks: int = Field(
        default=16, ge=1, description="Task attempts this scheduler runs at once, over all runs."
    )
    preload: str = Field(
        default="",
        description="Comma-separated modules the fork server imports once (e.g. numpy,sklearn), "
        "so Python tasks that use them start warm.",
    )
    task_sandbox: Literal["auto", "bwrap", "off"] = Field(
        default="auto",
        description="How tasks are kept from the server's secrets: `auto` (bubblewrap; the "
        "local executor refuses to start without it), `bwrap`, or `off` (tasks see what the "
        "server's user sees; logged as a warning).",
    )
    task_env_passthrough: str = Field(
        default="",
        description="Comma-separated names of more server environment variables tasks get "
        "(`NAME`, or `PREFIX_*`), beyond PATH, HOME, LANG, LC_*, TZ and the like. PLAIT_* never.",
    )
    task_hidden_paths: str = Field(
        default="~/.ssh,~/.aws,~/.azure,~/.config/gcloud,~/.kube,~/.docker,~/.netrc,~/.pgpass,"
        "~/.git-credentials",
        description="Comma-separated files or folders the sandbox hides from tasks, beyond "
        "the data directory, the database and the CLI's tokens (always hidden).",
    )
    task_writable_paths: str = Field(
        default="",
        description="Comma-separated existing folders tasks may write in the sandbox, beyond "
        "their attempt folder, their artifacts folder and a private /tmp.",
    )
    tick_seconds: float = Field(
        default=1.0, gt=0, description="How often the scheduler checks cron, retries and zombies."
    )
    heartbeat_seconds: float = Field(
        default=2.0, gt=0, description="How often running attempts report in."
    )
    zombie_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A running attempt silent this long is lost: retried or failed.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for the event bus between server processes (redis://host:6379/0); "
        "unset: events stay inside this process.",
    )
    events_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="Published events older than this are deleted; a client can catch up on "
        "what it missed within this window.",
    )
    retention_days: int = Field(
        default=30,
        ge=0,
        description="Finished runs older than this are removed with their attempts, logs, "
        "metrics, events, artifacts and files (pinned runs and runs that produced a registered "
        "model are kept; a workflow's own retention_days overrides it); 0 keeps every run.",
    )
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often the scheduler looks for runs to remove."
    )
    retention_batch_size: int = Field(
        default=200,
        ge=1,
        le=10000,
        description="Runs removed per transaction: small batches keep each lock short.",
    )
    metrics_enabled: bool = Field(
        default=True,
        description="Serve Prometheus metrics at /metrics (to an authenticated caller, e.g. a "
        "scraper with an API token).",
    )
    ws_queue_size: int = Field(
        default=1000,
        ge=10,
        description="Events a WebSocket client may lag behind before it is closed.",
    )
    kill_grace_seconds: float = Field(
        default=10.0,
        ge=0,
        description="After SIGTERM (cancel, timeout), SIGKILL follows this late.",
    )
    hook_tolerance_seconds: float = Field(
        default=300.0,
        ge=1,
        le=86400,
        description="A signed hook delivery whose timestamp is further than this from the "
        "server's clock is refused as stale (or replayed).",
    )
    host: str = Field(
        default="127.0.0.1", description="Address `plait server` listens on (--host)."
    )
    port: int = Field(
        default=8000, ge=1, le=65535, description="Port `plait server` listens on (--port)."
    )
    public_url: str | None = Field(
        default=None,
        description="The address people reach this server at (behind a proxy, say): links in "
        "notifications and hook URLs start with it. Default: where the server listens, "
        "http://<host>:<port>.",
    )
    slack_base_url: str = Field(
        default="https://slack.com/api/",
        description="Slack Web API base URL, for channels that post with a bot token.",
    )
    notify_worker: bool = Field(
        default=True, description="Send notifications (the delivery worker) from this process."
    )
    notify_max_attempts: int = Field(
        default=5, ge=1, le=100, description="Tries of one notification before it is failed."
    )
    notify_retry_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Wait before the second try of a notification; doubles after each try "
        "(with jitter), up to an hour.",
    )
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Longest wait for one channel to take a message."
    )
    notify_parallel: int = Field(
        default=8, ge=1, le=256, description="Notifications sent at once (one per channel)."
    )
    notify_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often the delivery worker looks for due messages."
    )

    log_store: Literal["local", "database"] = Field(
        default="local",
        description="Where task output is kept: `local` (output.log in the attempt folder; "
        "only this machine can serve it) or `database` (chunks in the database: any server "
        "can serve and follow it).",
    )
    artifact_store: str = Field(
        default="local",
        description="Where artifacts are kept: `local` (<data_dir>/artifacts) or an fsspec URL "
        "such as s3://bucket/prefix (install plait[s3]).",
    )
    artifact_store_options: SecretStr = Field(
        default=SecretStr("{}"),
        description="JSON object of options for the artifact store's file system (e.g. "
        '{"endpoint_url": ..., "key": ..., "secret": ...}); never logged or shown.',
    )

    # --- datasets (issue 11) ---
    dataset_max_bytes: int = Field(
        default=5 * 1024**3,
        ge=1,
        description="The largest dataset file an upload may bring (bytes); larger ones get 413.",
    )
    dataset_uri_prefixes: str = Field(
        default="",
        description="Comma-separated s3:// or gs:// prefixes under which a dataset version may "
        "register an object-store URI (the server reads it with its own credentials and hands "
        "it to tasks); none by default.",
    )
    dataset_file_roots: str = Field(
        default="",
        description="Comma-separated folders under which a dataset version may register a "
        "file path (file:// or /...) as its URI; none by default.",
    )

    # --- tracking adapters (issue 11): forwarding runs to MLflow, W&B -------------------------
    tracking: str = Field(
        default="",
        description="Tracking adapters each run is forwarded to, a comma list: `mlflow`, "
        "`wandb` (install plait[tracking]). Empty: none; the database always keeps everything.",
    )
    mlflow_tracking_uri: SecretStr | None = Field(
        default=None,
        description="The MLflow tracking server (http://host:5000), or MLflow's own default "
        "when unset. Secret: it may hold credentials; never logged or shown.",
    )
    mlflow_experiment: str | None = Field(
        default=None,
        description="The MLflow experiment runs go to. Default: the workflow's name.",
    )
    wandb_mode: Literal["offline", "online"] = Field(
        default="offline", description="W&B mode: `offline` writes run folders in wandb_dir."
    )
    wandb_dir: Path | None = Field(
        default=None, description="Where W&B writes its run folders. Default: <data_dir>/wandb."
    )
    wandb_project: str | None = Field(
        default=None, description="The W&B project runs go to. Default: the workflow's name."
    )
    tracking_worker: bool = Field(
        default=True, description="Forward runs to the tracking adapters from this process."
    )
    tracking_parallel: int = Field(
        default=4, ge=1, le=64, description="Runs forwarded at once (each in a thread)."
    )
    tracking_sync_seconds: float = Field(
        default=5.0, gt=0, description="How often a running run's new metrics are forwarded."
    )
    tracking_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Wait after a failed forward; doubles after each failure (with jitter) up "
        "to tracking_retry_max_seconds, and retries forever: nothing is lost.",
    )
    tracking_retry_max_seconds: float = Field(
        default=300.0, gt=0, description="The longest wait between two tries of a forward."
    )
    tracking_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Longest one forward may take before it is retried."
    )
    export_timeout: float = Field(
        default=300.0,
        gt=0,
        description="Longest a model's conversion to ONNX may take (its process is then killed "
        "and the export refused).",
    )
    export_tolerance: float = Field(
        default=1e-4,
        ge=0,
        description="An ONNX export whose outputs differ from the original model's by more "
        "than this on the signature's sample is kept, but marked as not within tolerance.",
    )
    export_max_bytes: int = Field(
        default=2 * 1024**3,
        ge=1024 * 1024,
        description="Largest file the conversion process may write (its ONNX model).",
    )

    chat_provider: Literal["rules", "openai"] = Field(
        default="rules",
        description="What reads `POST /chat` messages: `rules` (the built-in parser, no "
        "network) or `openai` (any OpenAI-compatible chat completions API at "
        "PLAIT_CHAT_LLM_URL; the rules parser answers when it fails).",
    )
    chat_llm_url: str | None = Field(
        default=None,
        description="Base URL of the OpenAI-compatible API (https://api.openai.com/v1); "
        "/chat/completions is added to it.",
    )
    chat_llm_key: SecretStr | None = Field(
        default=None, description="Its API key (sent as a bearer token; never logged)."
    )
    chat_llm_model: str = Field(default="gpt-4o-mini", description="The model to ask.")
    chat_llm_timeout_seconds: float = Field(
        default=20.0, gt=0, le=600, description="Longest wait for one answer of the model."
    )
    serving: bool = Field(
        default=True,
        description="Serve deployments from this server process (one serving process each).",
    )
    serving_load_seconds: float = Field(
        default=120.0, gt=0, description="Longest a deployment's model may take to load."
    )

    @property
    def tracking_adapters(self) -> list[str]:
        return [name.strip() for name in self.tracking.split(",") if name.strip()]

    @field_validator("public_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.rstrip("/")

    @property
    def base_url(self) -> str:
        """Where people reach this server, without a trailing slash: the start of every
        absolute link it gives out (notifications, hook URLs)."""
        if self.public_url:
            return self.public_url
        host = _REACHABLE.get(self.host, self.host)
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'plait.db'}"

    def signing_key(self) -> str:
        """The JWT signing key: configured, or generated once and kept in the data directory."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            # O_EXCL: two servers starting at once agree on one key; 0600 from the first byte.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key
