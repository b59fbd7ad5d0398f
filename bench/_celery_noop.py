"""The floor of `celery_fanout.py`: a bare Celery app whose task does nothing but count
itself in Redis, on the same broker as Plait's workers (`celery -A _celery_noop worker`)."""

from __future__ import annotations

import os

import redis
from celery import Celery

COUNTER = os.environ.get("BENCH_COUNTER", "plait-bench-noop")
app = Celery("bench", broker=os.environ["BENCH_BROKER_URL"], set_as_current=True)
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_ignore_result=True,
                worker_hijack_root_logger=False)  # fmt: skip
_redis = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop() -> None:
    _redis.incr(COUNTER)
