"""The Celery executor: attempts run on `plait worker` processes on any host.

A dispatch sends one broker message that carries only the attempt id, with the id
`attempt-<id>`, to the task's queue (default "default"). The worker claims the attempt over
the execution API, which refuses a second claim: a message sent or delivered twice runs its
attempt once. Everything an attempt reports comes back through that API, not through this
object, so it has nothing to emit: remote attempts are judged by their heartbeats alone.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from plait.db.engine import Database
from plait.db.models import TaskAttempt
from plait.executors.base import AttemptRef, Dispatch, Emit
from plait.orchestration.states import AttemptStatus
from plait.settings import Settings
from plait.worker import broker

log = logging.getLogger("plait.executor")
RESEND_SECONDS = 5.0  # how often sends that failed (the broker was down) are tried again
BUSY = (AttemptStatus.queued, AttemptStatus.running)


class CeleryExecutor:
    name = "celery"
    # A message may wait in the broker for as long as every worker is busy: not lost.
    queued_timeout: float | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._app = broker.celery_app(settings)
        # One thread sends, in order, over one connection (kombu's are not thread-safe).
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="plait-celery-send")
        self._db: Database | None = None
        self._unsent: dict[int, Dispatch] = {}
        self._resender: asyncio.Task[None] | None = None

    async def start(self, emit: Emit) -> None:
        # Its own small engine: the executor counts busy attempts, nothing more.
        self._db = Database(self.settings.resolved_database_url())
        self._resender = asyncio.create_task(self._resend())

    async def capacity(self) -> int:
        """`max_parallel_tasks` minus the attempts queued or running, over every server of
        the installation: the limit is the installation's, whoever dispatched. Counted
        afresh each time (once per run the scheduler advances): a count kept for a while
        would leave a run waiting for room that has been made."""
        assert self._db is not None
        async with self._db.read() as session:
            query = select(func.count()).where(TaskAttempt.status.in_(BUSY))
            busy = int((await session.execute(query)).scalar_one())
        return max(0, self.settings.max_parallel_tasks - busy)

    async def submit(self, job: Dispatch) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._sender, self._send, job)
        except Exception as exc:  # kombu raises many kinds; the message is kept and resent
            log.warning("could not send attempt %d to the broker (%s); retrying every %g s",
                        job.attempt_id, exc, RESEND_SECONDS)  # fmt: skip
            self._unsent[job.attempt_id] = job

    def _send(self, job: Dispatch) -> None:
        self._app.send_task(
            broker.TASK,
            args=[job.attempt_id],
            task_id=broker.task_id(job.attempt_id),
            queue=broker.queue_name(self.settings, job.queue),
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        )

    async def _resend(self) -> None:
        while True:
            await asyncio.sleep(RESEND_SECONDS)
            for attempt_id, job in list(self._unsent.items()):
                del self._unsent[attempt_id]
                await self.submit(job)

    async def terminate(self, attempt_id: int, reason: str) -> None:
        """Nothing to send. A queued attempt's message, when it comes, finds the attempt
        cancelled and runs nothing; a running attempt's worker hears `cancel` in the answer
        to its next report or heartbeat and stops it. A Celery revoke would add nothing:
        it is broadcast to every worker and forgotten when they restart, while the claim is
        refused for good."""

    def holds(self, attempt_id: int) -> bool:
        return False  # remote attempts are judged by their heartbeats only

    async def recover_orphans(self, attempts: list[AttemptRef]) -> set[int]:
        return set()  # nothing of theirs runs in this process: heartbeats judge them

    async def stop(self) -> None:
        if self._resender is not None:
            self._resender.cancel()
        self._sender.shutdown(wait=True)
        self._app.close()
        if self._db is not None:
            await self._db.dispose()
