"""Executors run task attempts. The scheduler hands them a `Dispatch` and hears back events.

Executors are named in settings (`PLAIT_EXECUTOR`) and imported lazily from `EXECUTORS`, so
an executor's dependencies (Celery, say) are only needed where it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plait.executors.base import Executor
    from plait.settings import Settings

EXECUTORS = {
    "local": "plait.executors.local:LocalExecutor",
    "celery": "plait.executors.celery:CeleryExecutor",
}


def load_executor(name: str, settings: Settings) -> Executor:
    try:
        module_name, _, cls_name = EXECUTORS[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; choose one of {sorted(EXECUTORS)}") from None
    cls = getattr(importlib.import_module(module_name), cls_name)
    executor: Executor = cls(settings)
    return executor
