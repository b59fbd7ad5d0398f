"""plait.log_metrics: several points at one step in one write, all or nothing; the events
file the SDK keeps open follows PLAIT_EVENTS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import plait


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_log_metrics_writes_every_point_at_its_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    monkeypatch.setenv("PLAIT_EVENTS", str(first))
    plait.log_metrics({"loss": 0.5, "accuracy": 0.75}, step=3)
    monkeypatch.setenv("PLAIT_EVENTS", str(second))  # another attempt in the same process
    plait.log_metric("loss", 0.25, step=4)

    got = [(r["key"], r["value"], r["step"]) for r in records(first)]
    assert got == [("loss", 0.5, 3), ("accuracy", 0.75, 3)]
    assert [(r["key"], r["step"]) for r in records(second)] == [("loss", 4)]


def test_a_bad_point_writes_none_of_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("PLAIT_EVENTS", str(events))
    with pytest.raises(ValueError, match="'accuracy' must be a finite number"):
        plait.log_metrics({"loss": 0.5, "accuracy": float("nan")}, step=1)
    with pytest.raises(ValueError, match="step must be an int"):
        plait.log_metrics({"loss": 0.5}, step=2**40)
    assert not events.exists() or events.read_text() == ""
