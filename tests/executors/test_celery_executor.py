"""What the Celery executor puts on the broker: one message per dispatch, carrying only the
attempt id, with the id `attempt-<id>`, on the task's queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu.connection import Connection
from kombu.message import Message

from plait.executors import load_executor
from plait.executors.base import Dispatch, Executor
from plait.settings import Settings
from tests.support.celery import BROKERS, Broker, new_broker

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    with new_broker(request.param) as found:
        yield found


def job(attempt_id: int, queue: str | None) -> Dispatch:
    return Dispatch(attempt_id, 1, "wf", "train", 1, "python", "print('secret code')",
                    env={"TOKEN": "not on the broker"}, queue=queue)  # fmt: skip


def take(broker: Broker, queue: str) -> list[Message]:
    """Every message waiting on the queue (acknowledged: taken off it)."""
    taken: list[Message] = []
    with Connection(broker.url) as conn:  # type: ignore[no-untyped-call]
        simple = conn.SimpleQueue(broker.prefix + queue)
        try:
            while True:
                try:
                    message = simple.get(timeout=1)
                except simple.Empty:
                    return taken
                message.ack()
                taken.append(message)
        finally:
            simple.close()


async def test_a_dispatch_is_one_message_with_the_attempt_id_on_its_queue(
    broker: Broker, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, executor="celery", broker_url=broker.url,
                        queue_prefix=broker.prefix)  # fmt: skip
    executor = load_executor("celery", settings)
    assert isinstance(executor, Executor)
    assert (executor.name, executor.queued_timeout, executor.holds(7)) == ("celery", None, False)
    await executor.start(lambda _report: None)
    try:
        await executor.submit(job(7, "gpu"))
        await executor.submit(job(8, None))
    finally:
        await executor.stop()
    [gpu] = take(broker, "gpu")
    [default] = take(broker, "default")
    assert _sent(gpu) == ("attempt-7", [7])
    assert _sent(default) == ("attempt-8", [8])
    body = str(gpu.body)
    assert "secret code" not in body and "not on the broker" not in body


def _sent(message: Message) -> tuple[Any, Any]:
    args, _kwargs, _embed = message.decode()  # type: ignore[no-untyped-call]
    return message.headers["id"], args
