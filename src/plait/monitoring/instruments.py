"""Every instrument of the server, in one place, and the small functions that record them.

Labels are bounded by construction: route templates (never URLs), statuses and kinds from
fixed sets, executor and deployment names from configuration. Never an id, user input or
error text.

prometheus_client keeps these in process-wide registries by design (a scrape reads them from
anywhere); with PROMETHEUS_MULTIPROC_DIR set before this module is imported, each process
writes its values to files in that directory and a scrape sums them (`exposition`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds. HTTP: fast routes are the norm (a few ms); the top buckets catch the slow ones.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TASK_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SERVING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# --- HTTP (monitoring.http) -------------------------------------------------------------------
http_requests = Counter(
    "plait_http_requests_total",
    "HTTP requests answered, by method, route template ('unmatched' when no route matched) "
    "and status code.",
    ["method", "route", "status"],
)
http_duration = Histogram(
    "plait_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)
websocket_connections = Counter(
    "plait_websocket_connections_total",
    "WebSocket connections accepted, by route template.",
    ["route"],
)

# --- runs and attempts (orchestration.states.transition, counted after commit) ---------------
runs = Counter(
    "plait_runs_total", "Runs that entered a status (created runs enter 'queued').", ["status"]
)
attempts = Counter(
    "plait_attempts_total",
    "Task attempts that entered a status (created attempts enter 'pending').",
    ["status"],
)
attempt_duration = Histogram(
    "plait_attempt_duration_seconds",
    "Task attempts' running time (start to end), by outcome.",
    ["outcome"],
    buckets=TASK_BUCKETS,
)

# --- retention (orchestration.retention, the scheduler's periodic pass) ---------------------
retention_removed = Counter(
    "plait_retention_removed_total",
    "Rows and files removed by retention passes, by kind (runs, attempts, files, bytes, ...).",
    ["kind"],
)
retention_passes = Histogram(
    "plait_retention_pass_seconds",
    "Retention passes (the periodic ones, not `plait db clean`): how long each took.",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600),
)

# --- the scheduler ----------------------------------------------------------------------------
dispatches = Counter(
    "plait_dispatches_total", "Attempts handed to an executor, by executor.", ["executor"]
)
scheduler_lag = Histogram(
    "plait_scheduler_lag_seconds",
    "How late the scheduler loop ran after it was due: 'tick' (the periodic pass: cron, "
    "retries, zombies) or 'wake' (a report or a change to act on).",
    ["kind"],
    buckets=LAG_BUCKETS,
)
attempts_lost = Counter(
    "plait_attempts_lost_total",
    "Attempts found lost: 'heartbeat' (a zombie: no heartbeat in PLAIT_ZOMBIE_SECONDS) or "
    "'server' (the server running it had stopped).",
    ["reason"],
)

# --- events -----------------------------------------------------------------------------------
events_published = Counter(
    "plait_events_published_total", "Committed events published on the bus by this process."
)
websocket_events_sent = Counter(
    "plait_websocket_events_sent_total", "Events sent to WebSocket clients (one per client)."
)
websocket_clients_dropped = Counter(
    "plait_websocket_clients_dropped_total",
    "WebSocket clients closed for being too slow (their queue filled up).",
)
websocket_clients = Gauge(
    "plait_websocket_clients",
    "WebSocket clients connected now.",
    multiprocess_mode="livesum",
)

# --- notifications ----------------------------------------------------------------------------
deliveries = Counter(
    "plait_notification_deliveries_total",
    "Notification sends, by channel kind and outcome (sent, failed: for good, retrying).",
    ["kind", "outcome"],
)

# --- the database pool (db.engine) ------------------------------------------------------------
pool_size = Gauge(
    "plait_db_pool_size",
    "Connections the pool keeps (pool_size), by engine ('writer'; 'reader' on SQLite).",
    ["engine"],
    multiprocess_mode="livesum",
)
pool_checked_out = Gauge(
    "plait_db_pool_checked_out",
    "Connections in use now, by engine.",
    ["engine"],
    multiprocess_mode="livesum",
)
pool_overflow = Gauge(
    "plait_db_pool_overflow",
    "Connections open beyond pool_size now (PostgreSQL allows max_overflow), by engine.",
    ["engine"],
    multiprocess_mode="livesum",
)

# --- serving (serving.supervisor) -------------------------------------------------------------
serving_requests = Counter(
    "plait_serving_requests_total",
    "Prediction requests, by deployment and outcome (ok, error).",
    ["deployment", "outcome"],
)
serving_rows = Counter("plait_serving_rows_total", "Rows predicted, by deployment.", ["deployment"])
serving_latency = Histogram(
    "plait_serving_latency_seconds",
    "Prediction latency (checking the rows and the serving process's answer), by deployment.",
    ["deployment"],
    buckets=SERVING_BUCKETS,
)


def serving_answered(deployment: str, rows: int, seconds: float) -> None:
    serving_requests.labels(deployment, "ok").inc()
    serving_rows.labels(deployment).inc(rows)
    serving_latency.labels(deployment).observe(seconds)


def serving_failed(deployment: str) -> None:
    serving_requests.labels(deployment, "error").inc()
