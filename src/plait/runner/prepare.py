"""Preparing an attempt to run: the same for every executor (the local one, and the Celery
worker, which runs its attempts through a local executor of its own).

An attempt gets a folder (its work directory, its log, its events file), a context file with
its params and upstream outputs, and an environment: the allow-listed part of the host's,
the task's own `env`, and the PLAIT_* variables the SDK reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plait.executors.base import Dispatch
from plait.executors.layout import PIDFILE, artifacts_dir, attempt_dir


def folders(data_dir: Path, job: Dispatch) -> tuple[Path, Path]:
    """The attempt's own folder and its artifacts folder."""
    where = (data_dir, job.run_id, job.task_key, job.attempt)
    return attempt_dir(*where), artifacts_dir(*where)


def prepare(job: Dispatch, data_dir: Path, base_env: dict[str, str]) -> dict[str, Any]:
    """Make the attempt's folders and files; return the fork server's spawn request."""
    folder, artifacts = folders(data_dir, job)
    (folder / "work").mkdir(parents=True, exist_ok=True)
    context = {"params": job.params, "inputs": job.inputs, "run_id": job.run_id,
               "task_key": job.task_key, "attempt": job.attempt}  # fmt: skip
    (folder / "context.json").write_text(json.dumps(context))
    env = {
        **base_env,
        **job.env,
        "PLAIT_RUN_ID": str(job.run_id),
        "PLAIT_WORKFLOW": job.workflow,
        "PLAIT_TASK_KEY": job.task_key,
        "PLAIT_ATTEMPT": str(job.attempt),
        "PLAIT_ATTEMPT_ID": str(job.attempt_id),
        "PLAIT_PARAMS": json.dumps(job.params),
        "PLAIT_CONTEXT": str(folder / "context.json"),
        "PLAIT_EVENTS": str(folder / "events.jsonl"),
        "PLAIT_ARTIFACTS_DIR": str(artifacts),
    }
    return {"op": "spawn", "attempt_id": job.attempt_id, "kind": job.kind, "body": job.body,
            "cwd": str(folder / "work"), "log": str(folder / "output.log"), "env": env,
            "key": job.task_key, "pidfile": str(folder / PIDFILE)}  # fmt: skip
