"""Reports: what an executor tells the scheduler about an attempt, typed and bounded.

Every report is one of the models below, told apart by `type`. This module is the one place
where their fields and bounds are defined, and `accept` is the one function that turns a
record a task wrote (untrusted bytes) into a report, so a remote worker's execution API can
apply the very same checks. A record that fails them is `Rejected` with a reason a user can
read; it never reaches the scheduler.

A task may write `output`, `metric`, `progress`, `artifact`, `model` and `error` records; `started`,
`heartbeat`, `log` and `exited` come from the executor itself. `dataset` and `log_dataset`
are a task's requests (plait.dataset, plait.log_dataset): the executor answers them in a
reply file and they never reach the scheduler.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from plait import bounded
from plait.executors.limits import (
    MAX_DEPTH,
    MAX_ERROR,
    MAX_KEY,
    MAX_LINE,
    MAX_LOG_TEXT,
    MAX_MESSAGE,
    MAX_NAME,
    MAX_OUTPUT_BYTES,
    MAX_OUTPUT_KEYS,
    MAX_PROGRESS_MESSAGE,
    MAX_SIZE,
    MAX_STEP,
)


def _text(limit: int) -> BeforeValidator:
    """Text to show: cut to `limit` characters, NUL (which PostgreSQL cannot store) replaced."""
    return BeforeValidator(
        lambda v: v[:limit].replace("\x00", "\ufffd") if isinstance(v, str) else v
    )


def _holds_nul(value: Any) -> bool:
    """Whether any text in `value` (keys included) holds NUL, which no database can store."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _bounded_json(value: JsonValue) -> JsonValue:
    if bounded.depth(value) > MAX_DEPTH or _holds_nul(value):
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels, or holds a NUL character")
    size = len(json.dumps(value, allow_nan=False))
    if size > MAX_OUTPUT_BYTES:
        raise ValueError(
            f"is {size} bytes as JSON, over the {MAX_OUTPUT_BYTES // 1024} KiB limit; "
            "write a file and log_artifact() it instead"
        )
    return value


Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY, pattern=r"^[^\x00]+$")]
Timestamp = Annotated[float | None, Field(default=None, ge=0, le=2**33, allow_inf_nan=False)]


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    attempt_id: int


class Started(_Report):
    type: Literal["started"] = "started"
    pid: Annotated[int, Field(gt=0, lt=2**31)]
    worker: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")]


class Heartbeat(_Report):
    type: Literal["heartbeat"] = "heartbeat"


class Output(_Report):
    type: Literal["output"] = "output"
    key: Key
    value: Annotated[JsonValue, AfterValidator(_bounded_json)]


class MetricReport(_Report):
    type: Literal["metric"] = "metric"
    key: Key
    value: Annotated[float, Field(allow_inf_nan=False)]
    step: Annotated[int | None, Field(default=None, ge=-MAX_STEP - 1, le=MAX_STEP)]
    ts: Timestamp


class ArtifactReport(_Report):
    type: Literal["artifact"] = "artifact"
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=r"^[^/\x00]+$")]
    path: Annotated[str, Field(min_length=1, max_length=4096)]
    size: Annotated[int, Field(ge=0, le=MAX_SIZE)]

    @field_validator("name")
    @classmethod
    def _not_dots(cls, name: str) -> str:
        if name in (".", ".."):
            raise ValueError("is not a file name")
        return name

    @field_validator("path")
    @classmethod
    def _inside_own_folder(cls, path: str, info: ValidationInfo) -> str:
        folder = (info.context or {}).get("artifacts")
        if folder is None:
            return path  # built by an executor, not read from a task
        real, root = os.path.realpath(path), os.path.realpath(folder)
        if os.path.commonpath([real, root]) != root or real == root:
            raise ValueError("is outside the attempt's artifacts folder")
        return real


class LogReport(_Report):
    type: Literal["log"] = "log"
    offset: Annotated[int, Field(ge=0)]
    text: Annotated[str, _text(MAX_LOG_TEXT)]


class ProgressReport(_Report):
    type: Literal["progress"] = "progress"
    fraction: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    message: Annotated[str | None, Field(default=None, max_length=MAX_PROGRESS_MESSAGE,
                                         pattern=r"^[^\x00]*$")]  # fmt: skip
    ts: Timestamp


class ErrorReport(_Report):
    type: Literal["error"] = "error"
    message: Annotated[str, _text(MAX_MESSAGE)]


ReplyId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
DatasetName = Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]


class DatasetRequest(_Report):
    """plait.dataset(name, version): where this host keeps that version's file."""

    type: Literal["dataset"] = "dataset"
    id: ReplyId
    name: DatasetName
    version: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None


class DatasetLog(_Report):
    """plait.log_dataset(path, name, ...): keep a file the task wrote as a new version."""

    type: Literal["log_dataset"] = "log_dataset"
    id: ReplyId
    name: DatasetName
    path: Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]
    kind: Annotated[str, Field(max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")] = "tabular"
    description: Annotated[str, Field(max_length=10_000, pattern=r"^[^\x00]*$")] = ""
    tags: Annotated[list[Annotated[str, Field(max_length=64, pattern=r"^[\w.:/-]+$")]],
                    Field(max_length=50)] = []  # fmt: skip
    metadata: Annotated[dict[str, JsonValue], AfterValidator(_bounded_json)] = {}


ColumnName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
ColumnType = Literal["double", "float", "long", "int", "bool", "string"]
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_SAMPLE_ROWS = 20
MAX_INPUTS = 200


class SignatureInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ColumnName
    type: ColumnType


class SignatureOutput(SignatureInput):
    shape: Annotated[list[Annotated[int, Field(ge=-1, le=2**31 - 1)]],
                     Field(min_length=1, max_length=8)] = [-1]  # fmt: skip


def _bounded_signature(value: Signature) -> Signature:
    size = len(value.model_dump_json())
    if size > MAX_SIGNATURE_BYTES:
        raise ValueError(f"is {size} bytes as JSON, over {MAX_SIGNATURE_BYTES // 1024} KiB")
    if len({c.name for c in value.inputs}) != len(value.inputs):
        raise ValueError("names an input twice")
    return value


class Signature(BaseModel):
    """What a model takes and gives, with example rows (design.md, "Model folder")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: Annotated[list[SignatureInput], Field(max_length=MAX_INPUTS)] = []
    outputs: Annotated[list[SignatureOutput], Field(max_length=MAX_INPUTS)] = []
    sample: Annotated[list[Annotated[dict[str, JsonValue], AfterValidator(_bounded_json)]],
                      Field(max_length=MAX_SAMPLE_ROWS)] = []  # fmt: skip


class ModelFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    size: int
    sha256: str


class ModelReport(_Report):
    """plait.log_model(...): the folder kept as artifact `artifact` is a model version. A
    task's record names it; `key` and `files` (each hashed) are added by the server once the
    folder is in the artifact store, and what a task or a worker put there is dropped."""

    type: Literal["model"] = "model"
    name: DatasetName
    artifact: Annotated[str, Field(min_length=1, max_length=MAX_NAME,
                                   pattern=r"^model-[A-Za-z][A-Za-z0-9_-]*$")]  # fmt: skip
    flavor: Literal["sklearn", "onnx", "pickle"]
    signature: Annotated[Signature, AfterValidator(_bounded_signature)] = Signature()
    framework: Annotated[dict[Annotated[str, Field(max_length=64, pattern=r"^[^\x00]+$")],
                              Annotated[str, Field(max_length=64, pattern=r"^[^\x00]*$")]],
                         Field(max_length=32)] = {}  # fmt: skip
    description: Annotated[str, Field(max_length=10_000, pattern=r"^[^\x00]*$")] = ""
    tags: Annotated[list[Annotated[str, Field(max_length=64, pattern=r"^[\w.:/-]+$")]],
                    Field(max_length=50)] = []  # fmt: skip
    key: str | None = None
    files: list[ModelFile] | None = None

    def untrusted(self) -> ModelReport:
        """As a task or a worker may send it: without what only the server may say."""
        return self.model_copy(update={"key": None, "files": None})

    def hashed(self, key: str, files: list[dict[str, Any]]) -> ModelReport:
        """With the folder's key and the files the server read there."""
        return ModelReport.model_validate({**self.model_dump(), "key": key, "files": files})


class Exited(_Report):
    type: Literal["exited"] = "exited"
    exit_code: Annotated[int, Field(ge=-255, le=255)]
    reason: Literal["timeout", "cancelled", "lost", "rejected"] | None = None
    error: Annotated[str | None, _text(MAX_ERROR)] = None


def exit_signal(exit_code: int | None) -> str | None:
    """The signal that ended a process, by name ("SIGTERM"), or None: a negative exit code
    is the signal itself (how Python reports it), 128 + N is a shell's word for a child
    that signal N killed. -1 is Plait's own code for an attempt without an exit (lost)."""
    if exit_code is None or -1 <= exit_code <= 128:
        return None
    number = -exit_code if exit_code < 0 else exit_code - 128
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


TaskRecord = Annotated[
    Output
    | MetricReport
    | ProgressReport
    | ArtifactReport
    | ErrorReport
    | DatasetRequest
    | DatasetLog
    | ModelReport,
    Field(discriminator="type"),
]
DatasetAsk = DatasetRequest | DatasetLog
Report = Annotated[
    Started
    | Heartbeat
    | Output
    | MetricReport
    | ProgressReport
    | ArtifactReport
    | LogReport
    | ErrorReport
    | ModelReport
    | Exited,
    Field(discriminator="type"),
]
_TASK_RECORD: TypeAdapter[TaskRecord] = TypeAdapter(TaskRecord)
_REPORT: TypeAdapter[Report] = TypeAdapter(Report)


class Rejected(ValueError):
    """A record a task wrote that is not a valid report; `str()` says why, for its user."""


@dataclass
class Intake:
    """What one attempt has reported so far: the state its records are checked against."""

    attempt_id: int
    artifacts: Path
    records: int = 0
    rejected: int = 0
    first_rejection: str | None = None
    output_keys: set[str] = field(default_factory=set)


def accept(
    line: bytes | None, intake: Intake
) -> (
    Output | MetricReport | ProgressReport | ArtifactReport | ErrorReport | DatasetAsk | ModelReport
):
    """The report a task's record (one line of its events file; None for a line too long to
    read) stands for, checked against every bound; `Rejected` if it is not one (the caller
    drops it and says so). Never raises anything else."""
    intake.records += 1
    if line is None:
        raise Rejected(f"longer than {MAX_LINE} bytes (skipped unread)")
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's stack
        raise Rejected("not a JSON record") from None
    if not isinstance(data, dict):
        raise Rejected("not a JSON object")
    try:
        report = _TASK_RECORD.validate_python(
            {**data, "attempt_id": intake.attempt_id}, context={"artifacts": intake.artifacts}
        )
    except (ValidationError, RecursionError) as exc:
        raise Rejected(_describe(data, exc)) from None
    if isinstance(report, Output) and report.key not in intake.output_keys:
        if len(intake.output_keys) >= MAX_OUTPUT_KEYS:
            raise Rejected(f"output {report.key!r}: more than {MAX_OUTPUT_KEYS} outputs")
        intake.output_keys.add(report.key)
    if isinstance(report, ModelReport):
        return report.untrusted()
    return report


def _describe(data: dict[str, Any], exc: Exception) -> str:
    kind = str(data.get("type"))[:40]
    if not isinstance(exc, ValidationError):
        return f"{kind} record nests too deeply"
    if kind not in ("output", "metric", "progress", "artifact", "error", "dataset",
                    "log_dataset", "model"):  # fmt: skip
        return f"type {kind!r} is not a record a task may write"
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"] if p != kind)
    name = data.get("key", data.get("name"))
    label = f"{kind} {str(name)[:40]!r}" if isinstance(name, str) else kind
    return f"{label}: {where} {first['msg']}".replace("Value error, ", "")


def report(data: dict[str, Any]) -> Report:
    """A report an executor builds (never a task's record): validated like any other."""
    return _REPORT.validate_python(data)
