"""Preparing an attempt to run: the same for every executor (the local one, and the Celery
worker, which runs its attempts through a local executor of its own).

An attempt gets a folder (its work directory, its log, its events file), a context file with
its params and upstream outputs, and an environment: the allow-listed part of the host's
(PATH led by the directory of this process's Python), the task's own `env`, and the PLAIT_*
variables the SDK and shell tasks read (docs/runs.md lists them).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from plait.executors.base import Dispatch
from plait.executors.layout import PIDFILE, artifacts_dir, attempt_dir

# Upstream outputs go in PLAIT_INPUTS up to this size (bytes of JSON); past it, only in the
# file PLAIT_INPUTS_FILE names: one environment string may not exceed 128 KiB on Linux.
MAX_ENV_JSON = 64 * 1024


def folders(data_dir: Path, job: Dispatch) -> tuple[Path, Path]:
    """The attempt's own folder and its artifacts folder."""
    where = (data_dir, job.run_id, job.task_key, job.attempt)
    return attempt_dir(*where), artifacts_dir(*where)


def prepare(job: Dispatch, data_dir: Path, base_env: dict[str, str]) -> dict[str, Any]:
    """Make the attempt's folders and files; return the fork server's spawn request."""
    folder, artifacts = folders(data_dir, job)
    (folder / "work").mkdir(parents=True, exist_ok=True)
    (folder / "replies").mkdir(exist_ok=True)  # the executor's answers to dataset requests
    context = {"params": job.params, "inputs": job.inputs, "run_id": job.run_id,
               "task_key": job.task_key, "attempt": job.attempt,
               "logical_date": job.logical_date}  # fmt: skip
    (folder / "context.json").write_text(json.dumps(context))
    inputs = json.dumps(job.inputs)
    (folder / "inputs.json").write_text(inputs)
    env = {
        **base_env,
        "PATH": _path(base_env.get("PATH")),
        **job.env,
        **_param_vars(job.params),
        "PLAIT_RUN_ID": str(job.run_id),
        "PLAIT_WORKFLOW": job.workflow,
        "PLAIT_TASK_KEY": job.task_key,
        "PLAIT_ATTEMPT": str(job.attempt),
        "PLAIT_ATTEMPT_ID": str(job.attempt_id),
        "PLAIT_PARAMS": json.dumps(job.params),
        "PLAIT_INPUTS_FILE": str(folder / "inputs.json"),
        "PLAIT_CONTEXT": str(folder / "context.json"),
        "PLAIT_EVENTS": str(folder / "events.jsonl"),
        "PLAIT_ARTIFACTS_DIR": str(artifacts),
        "PLAIT_REPLIES": str(folder / "replies"),
    }
    if len(inputs) <= MAX_ENV_JSON:
        env["PLAIT_INPUTS"] = inputs
    if job.logical_date is not None:
        env["PLAIT_LOGICAL_DATE"] = job.logical_date
    return {"op": "spawn", "attempt_id": job.attempt_id, "kind": job.kind, "body": job.body,
            "cwd": str(folder / "work"), "log": str(folder / "output.log"), "env": env,
            "key": job.task_key, "pidfile": str(folder / PIDFILE)}  # fmt: skip


def _path(given: str | None) -> str:
    """The server's (or worker's) own Python first, so a shell task's `python` is the one
    with Plait and the packages installed beside it."""
    here = os.path.dirname(sys.executable)
    rest = [p for p in (given or os.defpath).split(os.pathsep) if p and p != here]
    return os.pathsep.join([here, *rest])


def _param_vars(params: dict[str, Any]) -> dict[str, str]:
    """PLAIT_PARAM_<NAME> for each scalar param (true/false for booleans, as JSON has them);
    lists and objects are in PLAIT_PARAMS."""
    found = {}
    for name, value in params.items():
        if isinstance(value, bool):
            found[f"PLAIT_PARAM_{name.upper()}"] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            found[f"PLAIT_PARAM_{name.upper()}"] = str(value)
    return found
