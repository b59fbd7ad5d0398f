"""The garbage collector of a long-running server process.

CPython's full (generation 2) collection walks every tracked object; in `plait server` that
is some 250,000 objects, most of them made once at import (modules, functions, classes,
pydantic and SQLAlchemy metadata), and each full collection held the GIL, so the event
loop and every database thread, for 180-240 ms, every few seconds under load (requests in
flight across collections are promoted to the old generation and make the next one due).
Every request in flight waited that long: the p99 of every route was that pause.
"""

from __future__ import annotations

import gc

# Young-generation threshold: CPython's default is 700 allocations. A request allocates a
# few thousand objects, so at 700 most of a request's short-lived objects are still alive
# at a collection and get promoted; with a larger first threshold they are mostly gone.
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Once, when the process has loaded its code and built its app: collect, then move
    every object that exists now out of the collector's sight (`gc.freeze`: they live as
    long as the process, so there is nothing to find among them), and collect the young
    generation less often. Collections then walk only what requests made."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
