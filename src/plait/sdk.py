"""The task SDK: what `import plait` gives code running inside a task.

It talks to the runner through files the runner named in the task's environment (the
context it reads, the events file it appends JSON lines to, the artifacts folder): no network
address, no database. Outside a task every call raises `NotInTask`.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from plait.executors.limits import (
    MAX_KEY,
    MAX_LINE,
    MAX_OUTPUT_BYTES,
    MAX_PROGRESS_MESSAGE,
    MAX_STEP,
)

_context: dict[str, Any] | None = None
_events_file: TextIO | None = None


class NotInTask(RuntimeError):
    """An SDK call made outside a Plait task."""


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise NotInTask(f"not running inside a Plait task ({name} is not set)")
    return value


def _ctx() -> dict[str, Any]:
    global _context
    if _context is None:
        _context = json.loads(Path(_env("PLAIT_CONTEXT")).read_text(encoding="utf-8"))
    return _context


def _events() -> TextIO:
    """The events file, opened once: a metric logged in a loop costs one write, not an
    open and a close too."""
    global _events_file
    path = _env("PLAIT_EVENTS")
    if _events_file is None or _events_file.closed or _events_file.name != path:
        if _events_file is not None:
            _events_file.close()
        _events_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
    return _events_file


def _emit(*events: dict[str, Any]) -> None:
    """Append records, whole lines in one write, flushed at once: the runner reads the file
    as the task goes, and a task killed next must not take buffered records with it."""
    now = time.time()
    lines = "".join(json.dumps({**e, "ts": now}, allow_nan=False) + "\n" for e in events)
    f = _events()
    f.write(lines)
    f.flush()


def params() -> dict[str, Any]:
    """The run's parameters, defaults filled in."""
    return dict(_ctx()["params"])


def inputs() -> dict[str, dict[str, Any]]:
    """The outputs of this task's upstream tasks, by task key."""
    return {key: dict(value) for key, value in _ctx()["inputs"].items()}


def logical_date() -> datetime:
    """The moment this run stands for, in the workflow's timezone: the fire time it was
    scheduled for (by cron or a backfill), else when the run was created."""
    value = _ctx().get("logical_date")
    if not value:  # an attempt prepared by a server older than logical dates
        raise RuntimeError("no logical date: the server that started this task predates them")
    return datetime.fromisoformat(value)


def _check_key(what: str, key: object) -> None:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY or "\x00" in key:
        raise ValueError(f"{what} key is a string of 1 to {MAX_KEY} characters, without NUL")


def set_output(key: str, value: Any) -> None:
    """Publish a JSON value under `key` for downstream tasks and the run's page."""
    _check_key("an output", key)
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"output {key!r} is not JSON-serializable: {exc}") from None
    if size > MAX_OUTPUT_BYTES:
        raise ValueError(
            f"output {key!r} is {size} bytes as JSON, over the "
            f"{MAX_OUTPUT_BYTES // 1024} KiB limit; write a file and log_artifact() it instead"
        )
    _emit({"type": "output", "key": key, "value": value})


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a number (a loss, an accuracy) at an optional step."""
    _check_step(step)
    _emit(_metric(key, value, step))


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Record several numbers at once, all at the same optional step: one write for all."""
    if not isinstance(metrics, dict):
        raise ValueError(f"metrics are a dict of key -> number, got {type(metrics).__name__}")
    _check_step(step)
    _emit(*(_metric(key, value, step) for key, value in metrics.items()))


def _check_step(step: int | None) -> None:
    if step is not None and (not isinstance(step, int) or not -MAX_STEP - 1 <= step <= MAX_STEP):
        raise ValueError(f"step must be an int between {-MAX_STEP - 1} and {MAX_STEP}")


def _metric(key: str, value: float, step: int | None) -> dict[str, Any]:
    _check_key("a metric", key)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"metric {key!r} must be a finite number, got {value!r}")
    return {"type": "metric", "key": key, "value": number, "step": step}


def log_artifact(path: str | os.PathLike[str], name: str | None = None) -> str:
    """Keep a file (or folder) with the run; returns where it is kept, for downstream tasks."""
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"no such file to log as an artifact: {source}")
    target_name = name or source.name
    if "/" in target_name or target_name in ("", ".", ".."):
        raise ValueError(f"invalid artifact name {target_name!r}")
    target = Path(_env("PLAIT_ARTIFACTS_DIR")) / target_name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
        size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    else:
        shutil.copyfile(source, target)
        size = target.stat().st_size
    _emit({"type": "artifact", "name": target_name, "path": str(target), "size": size})
    return str(target)


def log_model(
    obj_or_path: Any,
    name: str,
    *,
    flavor: str = "sklearn",
    sample: Any = None,
    description: str = "",
    tags: list[str] | None = None,
) -> str:
    """Keep a trained model (an object, or the path of its file) as the next version of the
    registry's model `name`: a folder with MLmodel.json, the model file (`flavor` sklearn:
    joblib, pickle, onnx) and a signature inferred from `sample` (a DataFrame, a 2-D numpy
    array or a list of dicts; its first 20 rows are kept as an example). The server
    registers it with the run's params and metrics; returns where the folder is kept."""
    from plait.models import folder as model_folder  # numpy & co. only when a model is logged

    model_folder.check_arguments(name, flavor, description, tags)
    root = Path(_env("PLAIT_ARTIFACTS_DIR"))
    artifact, n = f"model-{name}", 1
    while (root / artifact).exists():  # a second model of that name in this attempt
        n += 1
        artifact = f"model-{name}-{n}"
    with tempfile.TemporaryDirectory(prefix="plait-model-") as tmp:
        document = model_folder.write(Path(tmp), obj_or_path, name, flavor, sample)
        record = {"type": "model", "name": name, "artifact": artifact, "flavor": flavor,
                  "signature": document["signature"], "framework": document["framework"],
                  "description": description, "tags": list(tags or [])}  # fmt: skip
        size = len(json.dumps({**record, "ts": time.time()}, allow_nan=False)) + 1
        if size > MAX_LINE:
            raise ValueError(f"the model's record is {size} bytes, over {MAX_LINE}: pass "
                             "fewer sample rows, or a shorter description")  # fmt: skip
        kept = log_artifact(tmp, artifact)
    _emit(record)
    return kept


def progress(fraction: float, message: str | None = None) -> None:
    """How far the task has come: `fraction` from 0 to 1, and an optional message (at most
    200 characters), shown with the run and used to estimate the time left."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise ValueError(f"progress is a number from 0 to 1, got {fraction!r}")
    number = float(fraction)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"progress is a number from 0 to 1, got {fraction!r}")
    if message is not None and (
        not isinstance(message, str) or len(message) > MAX_PROGRESS_MESSAGE
    ):
        raise ValueError(
            f"a progress message is a string of at most {MAX_PROGRESS_MESSAGE} characters"
        )
    _emit({"type": "progress", "fraction": number, "message": message})


class DatasetError(RuntimeError):
    """A dataset request the executor could not answer (no such dataset or version, a fetch
    that failed, a file it may not keep)."""


DATASET_TIMEOUT = 600.0  # seconds to wait for a reply: a first fetch of a large file is slow
# What the executor accepts (executors/reports.py): checked here too, so a bad request fails
# at once instead of waiting for a reply that never comes.
_DATASET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")
_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_TAG = re.compile(r"^[\w.:/-]{1,64}$")


def _check_dataset(name: object, kind: str = "tabular", tags: list[str] | None = None) -> None:
    if not isinstance(name, str) or not _DATASET_NAME.match(name):
        raise ValueError(f"dataset name {name!r}: letters, digits, - and _, a letter first, "
                         "at most 100 characters")  # fmt: skip
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise ValueError(f"kind {kind!r}: lower-case letters, digits, - and _, at most 32")
    if tags is not None and (len(tags) > 50 or not all(
            isinstance(t, str) and _TAG.match(t) for t in tags)):  # fmt: skip
        raise ValueError("tags: at most 50, each letters, digits and _ . : / -, at most 64")


def dataset(name: str, version: int | None = None, *, timeout: float | None = None) -> Path:
    """The local path of a dataset version's file (the newest version when `version` is
    None): fetched into this host's cache once per checksum, read-only. The read is
    recorded as the run's lineage."""
    _check_dataset(name)
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31
    ):
        raise ValueError(f"version is a positive int or None, got {version!r}")
    reply = _ask({"type": "dataset", "name": name, "version": version}, timeout)
    return Path(reply["path"])


def log_dataset(
    path: str | os.PathLike[str],
    name: str,
    *,
    kind: str = "tabular",
    description: str = "",
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> int:
    """Keep a file the task wrote (in its working directory) as the next version of dataset
    `name` (made on its first version, with `kind`, `description` and `tags`); returns the
    version number. The write is recorded as the run's lineage."""
    _check_dataset(name, kind, tags or [])
    if len(description) > 10_000 or len(json.dumps(metadata or {})) > MAX_OUTPUT_BYTES:
        raise ValueError(f"description: at most 10,000 characters; metadata: at most "
                         f"{MAX_OUTPUT_BYTES // 1024} KiB as JSON")  # fmt: skip
    source = Path(path).absolute()
    if not source.is_file():
        raise FileNotFoundError(f"no such file to log as a dataset: {source}")
    reply = _ask({"type": "log_dataset", "name": name, "path": str(source), "kind": kind,
                  "description": description, "tags": list(tags or []),
                  "metadata": metadata or {}}, timeout)  # fmt: skip
    return int(reply["version"])


def _ask(request: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    """Append a request to the events file and wait for the executor's reply file."""
    replies = Path(_env("PLAIT_REPLIES"))
    ask_id = uuid.uuid4().hex
    _emit({**request, "id": ask_id})
    answer = replies / f"{ask_id}.json"
    limit = DATASET_TIMEOUT if timeout is None else timeout
    deadline, pause = time.monotonic() + limit, 0.02
    while not answer.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no answer to the {request['type']} request for {request['name']!r} within "
                f"{limit:g} s (the executor reads requests at each heartbeat)"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.25)
    reply: dict[str, Any] = json.loads(answer.read_text(encoding="utf-8"))
    if not reply.get("ok"):
        raise DatasetError(f"{request['name']!r}: {reply.get('error')}")
    return reply
