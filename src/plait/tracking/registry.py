"""The adapters by name: adding one is a class here. Their packages are imported when an
adapter is made, never at import time, so the server starts without mlflow or wandb."""

from __future__ import annotations

from plait.settings import Settings
from plait.tracking.base import Adapter, AdapterUnavailable
from plait.tracking.mlflow import MlflowAdapter
from plait.tracking.wandb import WandbAdapter

ADAPTERS: dict[str, type[Adapter]] = {cls.name: cls for cls in (MlflowAdapter, WandbAdapter)}


def create(name: str, settings: Settings) -> Adapter:
    cls = ADAPTERS.get(name)
    if cls is None:
        known = ", ".join(sorted(ADAPTERS))
        raise AdapterUnavailable(f"unknown tracking adapter {name!r} (known: {known})")
    return cls(settings)
