"""The server's collector settings (plait.heap): objects made after `settle` are still
collected (request garbage does not pile up), the ones before it are left alone."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from plait import heap


@pytest.fixture
def settled() -> Iterator[None]:
    threshold = gc.get_threshold()
    heap.settle()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_settle_leaves_old_objects_to_the_collector_no_more(settled: None) -> None:
    assert gc.get_freeze_count() > 0  # this test's modules, among others
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


def test_cycles_made_after_settle_are_still_collected(settled: None) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
