"""The worker's Celery app and its one task, `plait.run_attempt(attempt_id)`.

The pool is threads: the work happens in task processes the runtime's fork server starts,
so a Celery thread only waits for its attempt. `--concurrency N` threads, prefetch 1: a
worker never holds a message it cannot start now, so idle workers get the next ones.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any

from celery import Celery, bootsteps
from celery.exceptions import Reject

from plait.settings import Settings
from plait.worker import broker
from plait.worker.client import ExecApi, Unreachable
from plait.worker.runtime import Runtime

log = logging.getLogger("plait.worker")


@dataclass(frozen=True)
class WorkerConfig:
    url: str
    token: str
    queues: list[str]
    concurrency: int
    loglevel: str = "INFO"


class WakeOnSignal(bootsteps.StartStopStep):  # type: ignore[misc]
    """Ends the event loop's wait when a signal arrives.

    The loop checks for a requested shutdown between waits, and with no message coming a
    wait lasts up to 10 s (Python resumes a poll that a signal interrupts): on RabbitMQ a
    SIGTERM took that long to act on. A signal now writes a byte to a pipe the loop
    watches, so the wait ends at once.
    """

    def start(self, parent: Any) -> None:
        if parent.hub is None:
            return
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write)
        parent.hub.add_reader(read, lambda: _drain(read))


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        os.read(fd, 512)


def make_app(settings: Settings, runtime: Runtime) -> Celery:
    app = broker.celery_app(settings)
    app.steps["consumer"].add(WakeOnSignal)

    @app.task(name=broker.TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_attempt(attempt_id: int) -> None:
        try:
            runtime.run(int(attempt_id))
        except Unreachable as exc:  # before the claim: the message goes back to the queue
            log.error("attempt %s: %s; its message goes back to the queue", attempt_id, exc)
            raise Reject(str(exc), requeue=True) from exc

    return app


def serve(settings: Settings, config: WorkerConfig) -> None:
    """Start the runtime (its fork server warm), consume until told to stop (SIGTERM lets
    running attempts finish), then stop the runtime."""
    api = ExecApi(config.url, config.token)
    runtime = Runtime(settings, api, config.queues, config.concurrency)
    app = make_app(settings, runtime)
    runtime.start()
    log.info("plait worker %s: queues %s, %d at once, server %s", runtime.name,
             ",".join(config.queues), config.concurrency, config.url)  # fmt: skip
    queues = ",".join(broker.queue_name(settings, q) for q in config.queues)
    hostname = f"plait-{runtime.name.replace(':', '-')}@%h"
    argv = ["worker", "--pool", "threads", "--concurrency", str(config.concurrency),
            "--queues", queues, "--loglevel", config.loglevel, "--hostname", hostname,
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    try:
        app.worker_main(argv)
    finally:
        runtime.stop()
