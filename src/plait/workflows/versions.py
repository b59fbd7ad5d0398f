"""Version content hashes and structured diffs between two definitions."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(spec: dict[str, Any]) -> str:
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _changes(old: dict[str, Any], new: dict[str, Any], skip: str = "") -> dict[str, Any]:
    keys = sorted((old.keys() | new.keys()) - {skip})
    return {k: {"from": old.get(k), "to": new.get(k)} for k in keys if old.get(k) != new.get(k)}


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed from `old` to `new`: top-level fields, and tasks added/removed/changed."""
    old_tasks = {t["key"]: t for t in old.get("tasks", [])}
    new_tasks = {t["key"]: t for t in new.get("tasks", [])}
    changed = {
        key: _changes(old_tasks[key], new_tasks[key])
        for key in sorted(old_tasks.keys() & new_tasks.keys())
        if old_tasks[key] != new_tasks[key]
    }
    return {
        "fields": _changes(old, new, skip="tasks"),
        "tasks": {
            "added": sorted(new_tasks.keys() - old_tasks.keys()),
            "removed": sorted(old_tasks.keys() - new_tasks.keys()),
            "changed": changed,
        },
    }
