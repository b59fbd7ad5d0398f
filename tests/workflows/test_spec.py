"""The workflow document's rules: every problem at once, each with its field path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from plait.errors import FieldError, InvalidInput
from plait.workflows.schedule import next_fire_times
from plait.workflows.spec import WorkflowSpec, parse, problems


def check(**doc: Any) -> dict[str, FieldError]:
    spec = WorkflowSpec.model_validate({"name": "wf", **doc})
    return {e.field: e for e in problems(spec)}


def py(key: str, code: str = "x = 1", deps: list[str] | None = None) -> dict[str, Any]:
    return {"key": key, "kind": "python", "code": code, "depends_on": deps or []}


def test_a_valid_document_has_no_problems() -> None:
    assert check(tasks=[py("a"), py("b", deps=["a"])], schedule="*/5 * * * *") == {}


def test_unknown_and_self_dependencies_are_named() -> None:
    found = check(tasks=[py("a", deps=["ghost"]), py("b", deps=["b"])])
    assert found["tasks.a.depends_on"].msg == "unknown task 'ghost'"
    assert found["tasks.a.depends_on"].loc == ("tasks", 0, "depends_on")
    assert "depends on itself" in found["tasks.b.depends_on"].msg


def test_an_unknown_dependency_close_to_a_task_key_says_which_was_meant() -> None:
    found = check(tasks=[py("train"), py("evaluate", deps=["trian"])])
    assert found["tasks.evaluate.depends_on"].msg == "unknown task 'trian'; did you mean 'train'?"


def test_tasks_with_a_shared_key_keep_their_index_in_the_path() -> None:
    found = check(tasks=[py("a", deps=["b"]), py("a"), py("c", code="(")])
    assert set(found) == {"tasks[0].depends_on", "tasks[1].key", "tasks.c.code"}


def test_a_cycle_names_its_members() -> None:
    found = check(tasks=[py("a", deps=["c"]), py("b", deps=["a"]), py("c", deps=["b"]), py("d")])
    (cycle,) = [e for e in found.values() if e.type == "cycle"]
    assert set(cycle.msg.removeprefix("dependency cycle: ").split(" -> ")) == {"a", "b", "c"}


def test_duplicate_keys_point_at_the_second_one() -> None:
    found = check(tasks=[py("a"), py("a")])
    assert "duplicate task key 'a'" in found["tasks[1].key"].msg


def test_python_that_does_not_compile_reports_its_line() -> None:
    found = check(tasks=[py("a", code="x = 1\ny = (\n")])
    assert found["tasks.a.code"].msg.startswith("line 2")


def test_the_body_must_match_the_kind() -> None:
    found = check(
        tasks=[
            {"key": "s", "kind": "shell"},
            {"key": "c", "kind": "callable", "callable": "not a path"},
            {"key": "p", "kind": "python", "code": "pass", "command": "ls"},
        ]
    )
    assert "needs command" in found["tasks.s.command"].msg
    assert "module.path:function" in found["tasks.c.callable"].msg
    assert "not used by a python task" in found["tasks.p.command"].msg


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("61 * * * *", "minute field '61' is out of range 0-59"),
        ("0 25 * * *", "hour field '25' is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field '0' is out of range 1-31"),
        ("0 0 1-40 * *", "day-of-month field '1-40': '40' is out of range 1-31"),
        ("0 0 * 13 *", "month field '13' is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field '8' is out of range 0-7 (0 and 7 are Sunday)"),
        ("0 0 * * MOM", "day-of-week field 'MOM' is not a number in 0-7 (0 and 7 are Sunday)"
                        " or a name SUN-SAT"),
        ("*/0 * * * *", "minute field '*/0': the step after / must be a whole number > 0"),
        ("* * * *", "the 5 fields of a cron expression are minute hour day-of-month month"
                    " day-of-week; '* * * *' has 4"),
        ("0 0 * * * *", "'0 0 * * * *' has 6"),
        ("@yearly", "unknown preset '@yearly'; use one of @hourly, @daily, @weekly, @monthly,"
                    " @once or a 5-field cron expression"),
        ("@dayly", "unknown preset '@dayly'; did you mean '@daily'?"),
    ],
)  # fmt: skip
def test_invalid_schedules_say_which_field_is_wrong_and_why(schedule: str, fragment: str) -> None:
    assert fragment in check(schedule=schedule)["schedule"].msg


@pytest.mark.parametrize("schedule", ["0 6 * * 1-5", "*/15 9-17 * JAN-MAR MON", "0 0 L * *"])
def test_valid_schedules_pass(schedule: str) -> None:
    assert check(schedule=schedule) == {}


@pytest.mark.parametrize(
    ("timezone", "message"),
    [
        ("Mars/Olympus", "unknown timezone 'Mars/Olympus'; use an IANA name such as UTC or "
                         "Europe/Berlin"),
        ("Europe/Berln", "unknown timezone 'Europe/Berln'; did you mean 'Europe/Berlin'?"),
        ("utc", "unknown timezone 'utc'; did you mean 'UTC'?"),
    ],
)  # fmt: skip
def test_an_unknown_timezone_says_what_to_use(timezone: str, message: str) -> None:
    assert check(timezone=timezone)["timezone"].msg == message


@pytest.mark.parametrize("schedule", ["*/\u00b2 * * * *", "\u00b2 * * * *"])
def test_digits_that_are_not_ascii_are_not_numbers(schedule: str) -> None:
    assert check(schedule=schedule)["schedule"].msg.startswith("minute field ")


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
        "tasks.a.code",
        "tasks.b.depends_on",
    }


@pytest.mark.parametrize("name", ["1abc", "_x", "a b", "a.b", "", "ä", "a\n", "a" * 101])
def test_names_start_with_a_letter_and_use_a_small_alphabet(name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        WorkflowSpec.model_validate({"name": name})
    (error,) = raised.value.errors()
    rule = "use letters, digits, - and _, starting with a letter, at most 100 characters"
    assert error["msg"].endswith(f" is not allowed: {rule}")


def test_a_name_of_the_longest_length_is_fine() -> None:
    assert WorkflowSpec.model_validate({"name": "a" * 100}).name == "a" * 100


def test_task_keys_and_param_names_explain_the_rule_in_words() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse({"name": "wf", "params": {"learning rate": {}}, "tasks": [py("2nd")]})
    found = {e.field: e.msg for e in raised.value.errors}
    assert found["tasks[0].key"] == (
        "'2nd' is not allowed: use letters, digits, - and _, starting with a letter, "
        "at most 100 characters"
    )
    assert found["params.learning rate.[key]"].startswith("'learning rate' is not allowed: use")


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        ({"schedul": "@daily"}, "schedul", "unknown field 'schedul'; did you mean 'schedule'?"),
        ({"tasks": [{**py("train"), "dependson": []}]}, "tasks.train.dependson",
         "unknown field 'dependson'; did you mean 'depends_on'?"),
        ({"params": {"lr": {"defualt": 1}}}, "params.lr.defualt",
         "unknown field 'defualt'; did you mean 'default'?"),
        ({"triggers": [{"workflow": "up", "onn": "failure"}]}, "triggers[0].onn",
         "unknown field 'onn'; did you mean 'on'?"),
        ({"owner": "me"}, "owner", "unknown field 'owner'; the fields are name, description,"),
    ],
)  # fmt: skip
def test_unknown_fields_say_which_was_meant(
    document: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse({"name": "wf", **document})
    found = {e.field: e.msg for e in raised.value.errors}
    assert found[field].startswith(message), found


def test_every_structural_problem_is_reported_at_once_with_task_keys() -> None:
    tasks = [{**py("train"), "retries": "many", "extra": 1}, {"key": "evaluate", "kind": "sql"}]
    with pytest.raises(InvalidInput) as raised:
        parse({"name": "wf", "max_active_runs": 0, "tasks": tasks})
    found = {e.field: e.loc for e in raised.value.errors}
    assert found == {
        "max_active_runs": ("max_active_runs",),
        "tasks.train.retries": ("tasks", 0, "retries"),
        "tasks.train.extra": ("tasks", 0, "extra"),
        "tasks.evaluate.kind": ("tasks", 1, "kind"),
    }


def test_an_unknown_trigger_param_says_which_was_meant() -> None:
    found = check(
        params={"learning_rate": {"type": "number"}},
        triggers=[{"workflow": "up", "params": {"learning_rat": "params.lr", "zzz": "params.z"}}],
    )
    assert found["triggers[0].params.learning_rat"].msg == (
        "not a param of this workflow; did you mean 'learning_rate'?"
    )
    assert found["triggers[0].params.zzz"].msg == "not a param of this workflow"


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
