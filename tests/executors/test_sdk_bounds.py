"""The SDK refuses at the source what the server would drop, and what it writes the server
takes: both read their bounds from `plait.executors.limits`."""

from __future__ import annotations

from pathlib import Path

import pytest

import plait
from plait.executors.limits import MAX_KEY, MAX_STEP
from plait.executors.reports import Intake, MetricReport, Output, accept


@pytest.fixture
def events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("PLAIT_EVENTS", str(path))
    return path


def test_keys_and_steps_past_the_servers_bounds_raise_in_the_task(events: Path) -> None:
    with pytest.raises(ValueError, match=f"1 to {MAX_KEY} characters"):
        plait.log_metric("k" * (MAX_KEY + 1), 1.0)
    with pytest.raises(ValueError, match="without NUL"):
        plait.set_output("a\x00b", 1)
    with pytest.raises(ValueError, match=f"between {-MAX_STEP - 1} and {MAX_STEP}"):
        plait.log_metric("loss", 1.0, step=MAX_STEP + 1)
    assert not events.exists()


def test_what_the_sdk_writes_the_server_accepts(events: Path, tmp_path: Path) -> None:
    plait.log_metric("k" * MAX_KEY, 0.5, step=MAX_STEP)
    plait.set_output("model", {"path": "x", "layers": [[1, 2], [3]]})
    intake = Intake(attempt_id=1, artifacts=tmp_path)
    got = [accept(line, intake) for line in events.read_bytes().splitlines()]
    assert [type(r) for r in got] == [MetricReport, Output]
