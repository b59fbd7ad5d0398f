"""Writes one run to W&B from a JSON payload (see `wandb.WandbAdapter`): config = params,
one `log` per step, the summary, the artifacts, the end. Run as a process of its own."""

from __future__ import annotations

import json
import sys
from itertools import groupby
from pathlib import Path
from typing import Any


def main(payload: dict[str, Any]) -> None:
    import wandb

    run = wandb.init(
        id=payload["id"],
        mode=payload["mode"],
        dir=payload["dir"],
        project=payload["project"],
        name=payload["name"],
        config=payload["params"],
        tags=[f"{k}:{v}"[:64] for k, v in payload["tags"].items()],
        resume="allow",
    )
    points = sorted(payload["points"], key=lambda p: p["step"])  # stable: logged order kept
    for step, group in groupby(points, key=lambda p: p["step"]):
        run.log({p["key"]: p["value"] for p in group}, step=step)
    run.summary["plait_status"] = payload["status"]
    if payload["files"]:
        artifact = wandb.Artifact(f"{payload['id']}-files", type="plait-artifacts")
        for file in payload["files"]:
            path = Path(file["path"])
            if path.is_dir():
                artifact.add_dir(str(path), name=file["name"])
            else:
                artifact.add_file(str(path), name=file["name"])
        run.log_artifact(artifact)
    run.finish(exit_code=0 if payload["status"] == "succeeded" else 1)


if __name__ == "__main__":
    main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
