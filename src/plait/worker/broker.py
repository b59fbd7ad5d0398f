"""The Celery app both sides share: the server's `celery` executor sends with it, and
`plait worker` consumes with it. Messages carry only an attempt id; everything else comes
from the server when the worker claims the attempt."""

from __future__ import annotations

from typing import Any

from celery import Celery

from plait.settings import Settings

TASK = "plait.run_attempt"
DEFAULT_QUEUE = "default"


def queue_name(settings: Settings, queue: str | None) -> str:
    return f"{settings.queue_prefix}{queue or DEFAULT_QUEUE}"


def task_id(attempt_id: int) -> str:
    """The message's id: the same for every send of one attempt (the idempotency key)."""
    return f"attempt-{attempt_id}"


def celery_app(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ValueError("the celery executor and `plait worker` need PLAIT_BROKER_URL")
    app = Celery("plait", broker=settings.broker_url, set_as_current=False)
    app.conf.update(_config(settings))
    return app


def _config(settings: Settings) -> dict[str, Any]:
    transport: dict[str, Any] = {}
    if settings.broker_url and settings.broker_url.startswith(("redis", "rediss")):
        # A message a dead worker took comes back after this long (RabbitMQ needs no such
        # timer: it re-delivers as soon as the worker's connection drops).
        transport["visibility_timeout"] = int(settings.broker_visibility_timeout)
    else:
        transport["confirm_publish"] = True  # a send returns once the broker holds it
    return {
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": queue_name(settings, None),
        "task_create_missing_queues": True,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        # Acknowledged when the attempt ended, so a message a worker took with it when it
        # died is delivered again; that second delivery finds the attempt claimed and does
        # nothing (a claimed attempt is judged by its heartbeats, not by the broker).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # a worker holds no message it cannot start now
        # Threads cannot be cancelled, and need not be: the attempt reports over HTTP, and
        # a message re-delivered meanwhile finds it claimed.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_send_task_events": False,
        "worker_hijack_root_logger": False,
    }
