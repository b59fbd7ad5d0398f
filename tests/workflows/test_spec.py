"""The workflow document's rules: every problem at once, each with its field path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from plait.errors import FieldError
from plait.workflows.schedule import next_fire_times
from plait.workflows.spec import WorkflowSpec, problems


def check(**doc: Any) -> dict[str, FieldError]:
    spec = WorkflowSpec.model_validate({"name": "wf", **doc})
    return {e.field: e for e in problems(spec)}


def py(key: str, code: str = "x = 1", deps: list[str] | None = None) -> dict[str, Any]:
    return {"key": key, "kind": "python", "code": code, "depends_on": deps or []}


def test_a_valid_document_has_no_problems() -> None:
    assert check(tasks=[py("a"), py("b", deps=["a"])], schedule="*/5 * * * *") == {}


def test_unknown_and_self_dependencies_are_named() -> None:
    found = check(tasks=[py("a", deps=["ghost"]), py("b", deps=["b"])])
    assert "unknown task 'ghost'" in found["tasks[0].depends_on[0]"].msg
    assert "depends on itself" in found["tasks[1].depends_on[0]"].msg


def test_a_cycle_names_its_members() -> None:
    found = check(tasks=[py("a", deps=["c"]), py("b", deps=["a"]), py("c", deps=["b"]), py("d")])
    (cycle,) = [e for e in found.values() if e.type == "cycle"]
    assert set(cycle.msg.removeprefix("dependency cycle: ").split(" -> ")) == {"a", "b", "c"}


def test_duplicate_keys_point_at_the_second_one() -> None:
    found = check(tasks=[py("a"), py("a")])
    assert "duplicate task key 'a'" in found["tasks[1].key"].msg


def test_python_that_does_not_compile_reports_its_line() -> None:
    found = check(tasks=[py("a", code="x = 1\ny = (\n")])
    assert found["tasks[0].code"].msg.startswith("line 2")


def test_the_body_must_match_the_kind() -> None:
    found = check(
        tasks=[
            {"key": "s", "kind": "shell"},
            {"key": "c", "kind": "callable", "callable": "not a path"},
            {"key": "p", "kind": "python", "code": "pass", "command": "ls"},
        ]
    )
    assert "needs command" in found["tasks[0].command"].msg
    assert "module.path:function" in found["tasks[1].callable"].msg
    assert "not used by a python task" in found["tasks[2].command"].msg


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("61 * * * *", "invalid cron"),
        ("* * * *", "5 fields"),
        ("0 0 * * * *", "5 fields"),
        ("@yearly", "unknown preset"),
    ],
)
def test_invalid_schedules(schedule: str, fragment: str) -> None:
    assert fragment in check(schedule=schedule)["schedule"].msg


def test_unknown_timezone() -> None:
    assert "unknown timezone" in check(timezone="Mars/Olympus")["timezone"].msg


@pytest.mark.parametrize(
    ("param", "field", "fragment"),
    [
        ({"type": "integer", "default": "ten"}, "default", "expected integer, got string"),
        ({"type": "integer", "default": True}, "default", "expected integer, got boolean"),
        ({"type": "number", "default": 5, "maximum": 1}, "default", "must be <= 1"),
        ({"type": "integer", "default": -1, "minimum": 0}, "default", "must be >= 0"),
        ({"type": "string", "default": "c", "enum": ["a", "b"]}, "default", "one of"),
        ({"type": "string", "enum": ["a", 2]}, "enum[1]", "not a string"),
        ({"type": "string", "minimum": 1}, "minimum", "numbers only"),
        ({"type": "integer", "minimum": 5, "maximum": 1}, "minimum", "greater than maximum"),
    ],
)
def test_invalid_param_schemas(param: dict[str, Any], field: str, fragment: str) -> None:
    assert fragment in check(params={"p": param})[f"params.p.{field}"].msg


def test_every_problem_is_reported_at_once() -> None:
    found = check(
        schedule="bad",
        timezone="Nowhere",
        params={"p": {"type": "integer", "default": "x"}},
        tasks=[py("a", code="def (:"), py("b", deps=["zzz"])],
    )
    assert set(found) == {
        "schedule",
        "timezone",
        "params.p.default",
        "tasks[0].code",
        "tasks[1].depends_on[0]",
    }


@pytest.mark.parametrize("name", ["1abc", "_x", "a b", "a.b", "", "ä"])
def test_names_start_with_a_letter_and_use_a_small_alphabet(name: str) -> None:
    with pytest.raises(ValidationError):
        WorkflowSpec.model_validate({"name": name})


def test_nul_characters_are_refused() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        WorkflowSpec.model_validate({"name": "a", "description": "x\x00y"})


def test_fire_times_follow_the_workflow_timezone_across_dst() -> None:
    # Berlin moves to summer time on 2026-03-29: 09:30 local is 08:30 UTC before, 07:30 after.
    after = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    times = next_fire_times("30 9 * * *", "Europe/Berlin", after=after)
    assert [(t.day, t.hour, t.minute) for t in times] == [(28, 8, 30), (29, 7, 30), (30, 7, 30)]
    assert all(t.tzinfo == UTC for t in times)


def test_presets_and_once() -> None:
    after = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    assert next_fire_times("@hourly", "UTC", after=after)[0] == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert next_fire_times("@once", "UTC", after=after) == []


def test_upcoming_fire_times_are_always_in_the_future(monkeypatch: pytest.MonkeyPatch) -> None:
    from plait.workflows import schedule

    first = next_fire_times("* * * * *", "UTC")
    assert first == next_fire_times("* * * * *", "UTC")  # served again while still upcoming
    later = first[0] + timedelta(seconds=1)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return later

    monkeypatch.setattr(schedule, "datetime", Clock)
    moved = next_fire_times("* * * * *", "UTC")
    assert moved[0] > later and moved[0] == first[1]
