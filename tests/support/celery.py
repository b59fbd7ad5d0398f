"""Real brokers and real `plait worker` processes, for the Celery tests.

Every user of a broker gets queue names of its own (PLAIT_QUEUE_PREFIX) and, on Redis, a
database number of its own, so tests running at the same time on this machine never take
each other's messages; `Broker.delete_queues` removes them afterwards.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kombu.connection import Connection

from plait.settings import Settings
from plait.worker import broker as plait_broker
from tests.cli.conftest import clean_env, plait_command

REDIS = "redis://127.0.0.1:6379"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"
BROKERS = ("redis", "rabbitmq")
QUEUES = ("default", "gpu")
START_SECONDS = 30.0
# Fast enough that a killed worker's attempt is judged lost within seconds.
TIMINGS = {"PLAIT_HEARTBEAT_SECONDS": "0.5", "PLAIT_ZOMBIE_SECONDS": "3",
           "PLAIT_TICK_SECONDS": "0.2", "PLAIT_KILL_GRACE_SECONDS": "1"}  # fmt: skip


@dataclass
class Broker:
    kind: str
    url: str
    prefix: str

    @classmethod
    def new(cls, kind: str) -> Broker:
        prefix = f"plait-test-{os.getpid()}-{secrets.token_hex(3)}-"
        url = f"{REDIS}/{random.randint(8, 15)}" if kind == "redis" else AMQP
        return cls(kind, url, prefix)

    def env(self) -> dict[str, str]:
        return {"PLAIT_BROKER_URL": self.url, "PLAIT_QUEUE_PREFIX": self.prefix}

    def send(self, attempt_id: int, queue: str | None = None) -> None:
        """A message for the attempt, as the server's executor sends it (once more)."""
        settings = Settings(broker_url=self.url, queue_prefix=self.prefix)
        app = plait_broker.celery_app(settings)
        try:
            app.send_task(plait_broker.TASK, args=[attempt_id],
                          task_id=plait_broker.task_id(attempt_id),
                          queue=plait_broker.queue_name(settings, queue))  # fmt: skip
        finally:
            app.close()

    def delete_queues(self) -> None:
        with Connection(self.url) as conn:  # type: ignore[no-untyped-call]
            for name in QUEUES:
                with contextlib.suppress(Exception), conn.channel() as channel:
                    channel.queue_delete(self.prefix + name)


@contextmanager
def new_broker(kind: str) -> Iterator[Broker]:
    found = Broker.new(kind)
    try:
        yield found
    finally:
        found.delete_queues()


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def name(self) -> str:
        """As the server records it on the attempts it runs."""
        return f"{socket.gethostname()}:{self.process.pid}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM (running attempts may finish), then SIGKILL."""
        self.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Workers:
    """Starts `plait worker` processes for one server; `stop_all` stops them."""

    url: str
    token: str
    broker: Broker
    folder: Path  # their data dirs and logs; tasks may write here
    started: list[Worker] = field(default_factory=list)

    def start(self, queues: str = "default", concurrency: int = 2) -> Worker:
        """A worker ready to take messages."""
        number = len(self.started)
        env = clean_env(PLAIT_URL=self.url, PLAIT_WORKER_TOKEN=self.token,
                        PLAIT_DATA_DIR=str(self.folder / f"worker{number}"),
                        PLAIT_TASK_WRITABLE_PATHS=str(self.folder), **self.broker.env(),
                        **TIMINGS)  # fmt: skip
        log = self.folder / f"worker{number}.log"
        command = [*plait_command(), "worker", "--queues", queues,
                   "--concurrency", str(concurrency)]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        worker = Worker(process, log)
        self.started.append(worker)
        _until_ready(worker)
        return worker

    def stop_all(self) -> None:
        # All told at once: each may take seconds to close its broker connection.
        for worker in self.started:
            worker.terminate()
        for worker in self.started:
            worker.stop()


def _until_ready(worker: Worker) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited with {worker.process.returncode}:\n"
                               f"{worker.output()}")  # fmt: skip
        if " ready." in worker.output():
            return
        time.sleep(0.05)
    raise RuntimeError(f"worker not ready after {START_SECONDS} s:\n{worker.output()}")
