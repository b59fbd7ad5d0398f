"""The workflow document: its shape (pydantic) and its rules (`problems`).

The shape is checked by pydantic; the rules that need the whole document (dependencies,
cycles, code that compiles, cron, param defaults) are checked by `problems`, which returns
every problem at once with its field path.
"""

from __future__ import annotations

import graphlib
import math
import re
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from plait.errors import FieldError, InvalidInput, did_you_mean, from_pydantic
from plait.workflows.schedule import schedule_error, timezone_error

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
NAME_MAX = 100
NAME_RULE = f"use letters, digits, - and _, starting with a letter, at most {NAME_MAX} characters"
CALLABLE_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it at the edge instead of failing in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def is_plain_json(value: Any) -> bool:
    """JSON that PostgreSQL stores too: finite numbers, no NUL characters."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, list):
        return all(is_plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(is_plain_json(k) and is_plain_json(v) for k, v in value.items())
    return True


@dataclass(frozen=True)
class _Rule:
    """A string rule that explains itself in words when a value breaks it (pydantic's own
    message quotes the regular expression); the JSON Schema still gives the pattern."""

    pattern: str
    max_length: int
    words: str
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out.update(pattern=self.pattern, minLength=1, maxLength=self.max_length)
        return out

    def _check(self, value: str) -> str:
        if len(value) > self.max_length or not self.regex.fullmatch(value):
            # Pre-formatted, no context: braces in the value are not a template.
            raise PydanticCustomError("name", f"{_quoted(value)} is not allowed: {self.words}")
        return value


def _quoted(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


Text = Annotated[str, AfterValidator(_no_nul)]
Name = Annotated[str, _Rule(NAME_PATTERN, NAME_MAX, NAME_RULE)]
Tag = Annotated[
    str, _Rule(r"^[\w.:/-]+$", 64, "use letters, digits and _ . : / -, at most 64 characters")
]
EnvName = Annotated[
    str,
    _Rule(
        r"^[A-Za-z_][A-Za-z0-9_]*$",
        128,
        "use letters, digits and _, not starting with a digit, at most 128 characters",
    ),
]
Finite = Annotated[float, Field(allow_inf_nan=False)]
ParamType = Literal["string", "integer", "number", "boolean", "array", "object"]
TaskKind = Literal["python", "shell", "callable"]
BODY_FIELD: dict[str, str] = {"python": "code", "shell": "command", "callable": "callable"}
TriggerOn = Literal["success", "failure", "any"]
# Where a chained run's param comes from in the finished upstream run: one of its params, or
# an output of one of its tasks (the output key is everything after the task key's dot).
Source = Annotated[
    str,
    _Rule(
        r"^(params\.[A-Za-z][A-Za-z0-9_-]*|outputs\.[A-Za-z][A-Za-z0-9_-]*\.[^\x00\n]+)$",
        300,
        "use params.<name> (a param of the finished run) or outputs.<task>.<key> (an output of "
        "one of its tasks), at most 300 characters",
    ),
]


class _Strict(BaseModel):
    """A part of the document that refuses fields it does not know, saying which it meant."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _unknown_fields(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors()
            if not any(_own_extra(e) for e in errors):
                raise
            details = [_hinted(e, list(cls.model_fields)) for e in errors]
            raise ValidationError.from_exception_data(exc.title, details) from None


def _own_extra(error: Any) -> bool:
    """An unknown field of this model itself (not of a part nested in it)."""
    return bool(error["type"] == "extra_forbidden" and len(error["loc"]) == 1)


def _hinted(error: Any, fields: list[str]) -> InitErrorDetails:
    """The error as it was (type, place, message), with a hint for an unknown field."""
    message = error["msg"]
    if _own_extra(error):
        name = str(error["loc"][0])
        hint = did_you_mean(name, fields) or f"; the fields are {', '.join(fields)}"
        message = f"unknown field {_quoted(name)}{hint}"
    kind = PydanticCustomError(error["type"], message)
    return {"type": kind, "loc": error["loc"], "input": error["input"]}


class ParamSpec(_Strict):
    """One run parameter, in a subset of JSON Schema."""

    type: ParamType = "string"
    default: Any = None
    enum: list[Any] | None = Field(default=None, min_length=1)
    minimum: int | Finite | None = None  # int first, so integer bounds stay integers
    maximum: int | Finite | None = None
    description: Text = Field(default="", max_length=2000)
    required: bool = False

    @field_validator("default", "enum")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        # Python's JSON reader accepts NaN and Infinity; JSON (and PostgreSQL) do not.
        if not is_plain_json(value):
            raise ValueError("must be plain JSON: no NaN or Infinity, no NUL characters")
        return value


class TaskSpec(_Strict):
    key: Name
    kind: TaskKind
    code: Text | None = Field(default=None, description="Python source, for kind python.")
    command: Text | None = Field(default=None, description="Shell command, for kind shell.")
    callable: Text | None = Field(
        default=None, description="module:function to call, for kind callable."
    )
    depends_on: list[Name] = Field(default_factory=list)
    retries: int = Field(default=0, ge=0, le=100)
    retry_delay: float = Field(default=10.0, ge=0, le=86400, description="Seconds.")
    retry_backoff: float = Field(
        default=2.0, ge=1, le=10, description="Multiplier of the delay after each retry."
    )
    timeout: float | None = Field(default=None, gt=0, le=7 * 86400, description="Seconds.")
    env: dict[EnvName, Text] = Field(default_factory=dict)
    queue: Name | None = None


class TriggerSpec(_Strict):
    """Run this workflow when `workflow` finishes with the outcome `on`."""

    workflow: Name
    on: TriggerOn = Field(
        default="success",
        description="success: it succeeded; failure: it failed; any: it ended at all "
        "(succeeded, failed or cancelled).",
    )
    params: dict[Name, Source] = Field(
        default_factory=dict,
        max_length=100,
        description="This workflow's param -> `params.<name>` or `outputs.<task>.<key>` "
        "of the finished run.",
    )


class WorkflowSpec(_Strict):
    """A workflow definition: everything a version records."""

    name: Name
    description: Text = Field(default="", max_length=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    schedule: Text | None = Field(default=None, max_length=100)
    timezone: Text = Field(default="UTC", max_length=64)
    catchup: bool = Field(
        default=False,
        description="Run every fire time missed while paused or down, not only the latest.",
    )
    params: dict[Name, ParamSpec] = Field(default_factory=dict)
    max_active_runs: int = Field(default=1, ge=1, le=1000)
    sla_seconds: float | None = Field(
        default=None,
        gt=0,
        le=30 * 86400,
        description="A run still going after this many seconds sends run.duration_exceeded.",
    )
    retention_days: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="Finished runs older than this many days are removed (0: kept for ever; "
        "unset: the server's PLAIT_RETENTION_DAYS).",
    )
    tasks: list[TaskSpec] = Field(default_factory=list, max_length=10_000)
    triggers: list[TriggerSpec] = Field(
        default_factory=list,
        max_length=100,
        description="Other workflows whose runs, when they finish, start a run of this one.",
    )

    def canonical(self) -> dict[str, Any]:
        """The definition as plain JSON, every field spelled out: what versions store and hash."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["tags"] = sorted(set(data["tags"]))
        if not data["triggers"]:
            # Left out when empty, so definitions saved before triggers existed keep their hash
            # and saving one unchanged makes no new version.
            del data["triggers"]
        return data


def parse(document: dict[str, Any]) -> WorkflowSpec:
    """The spec in `document`, or InvalidInput naming each field at fault by task key."""
    try:
        return WorkflowSpec.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(keyed(from_pydantic(exc.errors()), document)) from None


def keyed(errors: list[FieldError], document: Any) -> list[FieldError]:
    """`errors` with each task in their `field` named by its key, as people know it
    (`tasks.train.code`, not `tasks[1].code`). A task whose key is missing, malformed or
    shared with another keeps its index. `loc` keeps the indexes."""
    tasks = document.get("tasks") if isinstance(document, dict) else None
    if not isinstance(tasks, list):
        return errors
    keys = [t.get("key") if isinstance(t, dict) else None for t in tasks]
    counts = Counter(k for k in keys if isinstance(k, Hashable))
    names = {
        i: key
        for i, key in enumerate(keys)
        if isinstance(key, str) and re.fullmatch(NAME_PATTERN, key) and counts[key] == 1
    }
    out = []
    for e in errors:
        where = e.loc[1] if e.loc[:1] == ("tasks",) and len(e.loc) > 1 else None
        if isinstance(where, int) and where in names:
            e = replace(e, named=("tasks", names[where], *e.loc[2:]))
        out.append(e)
    return out


def problems(spec: WorkflowSpec) -> list[FieldError]:
    """Every rule the document breaks, each with the path of the field at fault."""
    return keyed(_problems(spec), {"tasks": [{"key": t.key} for t in spec.tasks]})


def _problems(spec: WorkflowSpec) -> list[FieldError]:
    out: list[FieldError] = []
    if spec.schedule is not None and (err := schedule_error(spec.schedule)):
        out.append(FieldError(("schedule",), err, "schedule"))
    if err := timezone_error(spec.timezone):
        out.append(FieldError(("timezone",), err, "timezone"))
    for name, param in spec.params.items():
        out += _param_problems(("params", name), param)
    out += _task_problems(spec.tasks)
    out += _trigger_problems(spec)
    return out


def value_problems(loc: tuple[str | int, ...], param: ParamSpec, value: Any) -> list[FieldError]:
    """Whether `value` fits `param`: its type, enum and bounds."""
    if not _has_type(param.type, value):
        return [FieldError(loc, f"expected {param.type}, got {_json_type(value)}", "type")]
    if param.enum is not None and value not in param.enum:
        return [FieldError(loc, f"must be one of {param.enum}", "enum")]
    if param.type in ("integer", "number"):
        if param.minimum is not None and value < param.minimum:
            return [FieldError(loc, f"must be >= {param.minimum:g}", "minimum")]
        if param.maximum is not None and value > param.maximum:
            return [FieldError(loc, f"must be <= {param.maximum:g}", "maximum")]
    return []


def _param_problems(loc: tuple[str | int, ...], param: ParamSpec) -> list[FieldError]:
    out: list[FieldError] = []
    numeric = param.type in ("integer", "number")
    if not numeric and (param.minimum is not None or param.maximum is not None):
        out.append(FieldError((*loc, "minimum"), "minimum/maximum apply to numbers only"))
    if numeric and None not in (param.minimum, param.maximum):
        assert param.minimum is not None and param.maximum is not None
        if param.minimum > param.maximum:
            out.append(FieldError((*loc, "minimum"), "minimum is greater than maximum"))
    for i, option in enumerate(param.enum or []):
        if not _has_type(param.type, option):
            out.append(FieldError((*loc, "enum", i), f"enum value is not a {param.type}", "type"))
    if param.default is not None and not out:
        out += value_problems((*loc, "default"), param, param.default)
    return out


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _has_type(kind: str, value: Any) -> bool:
    if isinstance(value, bool) and kind != "boolean":
        return False  # True is an int in Python, not in JSON
    return isinstance(value, _PY_TYPES[kind])


def _json_type(value: Any) -> str:
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if _has_type(name, value):
            return name
    return "null"


def _task_problems(tasks: list[TaskSpec]) -> list[FieldError]:
    out: list[FieldError] = []
    index: dict[str, int] = {}
    for i, task in enumerate(tasks):
        if task.key in index:
            msg = f"duplicate task key {task.key!r} (also tasks[{index[task.key]}])"
            out.append(FieldError(("tasks", i, "key"), msg, "duplicate"))
        else:
            index[task.key] = i
        out += _body_problems(("tasks", i), task)
    for i, task in enumerate(tasks):
        out += _dependency_problems(("tasks", i, "depends_on"), task, index)
    out += _cycle_problems(tasks, index)
    return out


def _dependency_problems(
    loc: tuple[str | int, ...], task: TaskSpec, index: dict[str, int]
) -> list[FieldError]:
    # The message names the dependency, so the path stops at the list.
    out = []
    for dep in task.depends_on:
        if dep == task.key:
            out.append(FieldError(loc, f"task {dep!r} depends on itself", "self_dependency"))
        elif dep not in index:
            hint = did_you_mean(dep, [k for k in index if k != task.key])
            out.append(FieldError(loc, f"unknown task {dep!r}{hint}", "unknown_dependency"))
    return out


def _body_problems(loc: tuple[str | int, ...], task: TaskSpec) -> list[FieldError]:
    wanted = BODY_FIELD[task.kind]
    out = [
        FieldError((*loc, field), f"not used by a {task.kind} task; remove it", "extra")
        for field in BODY_FIELD.values()
        if field != wanted and getattr(task, field) is not None
    ]
    body: str | None = getattr(task, wanted)
    if body is None or not body.strip():
        out.append(FieldError((*loc, wanted), f"a {task.kind} task needs {wanted}", "missing"))
    elif task.kind == "python":
        out += _compile_problems((*loc, "code"), body, task.key)
    elif task.kind == "callable" and not CALLABLE_RE.match(body):
        out.append(FieldError((*loc, "callable"), "expected module.path:function", "callable"))
    return out


def _compile_problems(loc: tuple[str | int, ...], code: str, key: str) -> list[FieldError]:
    try:
        compile(code, f"task {key}", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return [FieldError(loc, f"line {exc.lineno}: {exc.msg}", "syntax")]
    except (ValueError, RecursionError, MemoryError) as exc:
        return [FieldError(loc, f"cannot compile: {type(exc).__name__}", "syntax")]
    return []


def _trigger_problems(spec: WorkflowSpec) -> list[FieldError]:
    """What can be told from the document alone; `workflows.triggers` checks the others."""
    out: list[FieldError] = []
    seen: dict[str, list[str]] = {}
    for i, trigger in enumerate(spec.triggers):
        loc: tuple[str | int, ...] = ("triggers", i)
        if trigger.workflow == spec.name:
            msg = f"trigger cycle: {spec.name} -> {spec.name}"
            out.append(FieldError((*loc, "workflow"), msg, "cycle"))
        outcomes = seen.setdefault(trigger.workflow, [])
        if trigger.on in outcomes or "any" in outcomes or (outcomes and trigger.on == "any"):
            # Both would match one finished run, which starts one run of this workflow.
            msg = f"overlaps another trigger on {trigger.workflow!r}; merge them"
            out.append(FieldError((*loc, "on"), msg, "duplicate"))
        outcomes.append(trigger.on)
        out += [
            FieldError(
                (*loc, "params", name),
                f"not a param of this workflow{did_you_mean(name, spec.params)}",
                "unknown",
            )
            for name in trigger.params
            if name not in spec.params
        ]
    return out


def _cycle_problems(tasks: list[TaskSpec], index: dict[str, int]) -> list[FieldError]:
    graph = {t.key: [d for d in t.depends_on if d in index and d != t.key] for t in tasks}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        members: list[str] = exc.args[1]
        path = " -> ".join(members)
        loc = ("tasks", index[members[0]], "depends_on")
        return [FieldError(loc, f"dependency cycle: {path}", "cycle")]
    return []
