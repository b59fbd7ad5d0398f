"""A model version as a zip that runs anywhere with numpy and onnxruntime: its ONNX model, its
signature, a standalone `predict.py`, pinned `requirements.txt` and a README.

`package()` is a plain function (the store, the settings, the version and its ONNX export):
the model routes serve it, and so does a deployment's package route. The zip is built in a
temporary file, in a thread; `zip_response` streams it and removes it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from plait.db.models import ModelExport, ModelVersion
from plait.errors import Conflict
from plait.models.export import local_export
from plait.models.files import local_copy
from plait.settings import Settings
from plait.storage.artifacts import ArtifactStore

PREDICT = "predict_template.py"  # shipped beside this module, copied in as predict.py
NUMPY_RANGE = "numpy>=1.24,<3"
ORT_FLOOR = "1.17"
STALE_SECONDS = 3600


async def package(
    store: ArtifactStore,
    settings: Settings,
    model_name: str,
    version: ModelVersion,
    export: ModelExport | None,
) -> Path:
    """The path of a new zip (the caller removes it) for `version`, from its ONNX `export`
    (or its own model.onnx when the version is ONNX already). Every file is checked against
    its recorded sha256 first (TamperedFile, a 409)."""
    if export is not None:
        onnx_file = await local_export(settings, store, export) / "model.onnx"
        meta = {k: v for k, v in export.meta.items() if k != "files"}
    elif version.flavor == "onnx":
        folder = await local_copy(store, settings.data_dir, version.artifact_key, version.files)
        onnx_file = folder / "model.onnx"
        meta = {}
    else:
        raise Conflict(f"version {version.version} of {model_name!r} has no ONNX export yet")
    signature = {"inputs": version.signature.get("inputs", []),
                 "outputs": meta.get("outputs") or version.signature.get("outputs", []),
                 "sample": version.signature.get("sample", [])}  # fmt: skip
    return await asyncio.to_thread(
        _build, settings, model_name, version.version, onnx_file, signature, meta
    )


def _build(
    settings: Settings,
    name: str,
    version: int,
    onnx_file: Path,
    signature: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    root = settings.data_dir / "cache" / "packages"
    root.mkdir(parents=True, exist_ok=True)
    _forget_stale(root)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".package-", suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.write(onnx_file, "model.onnx")
            z.writestr("signature.json", json.dumps(signature, indent=2) + "\n")
            z.writestr("predict.py", resources.files(__package__).joinpath(PREDICT).read_text())
            z.writestr("requirements.txt", requirements(meta))
            z.writestr("README.md", readme(name, version, signature, meta))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _forget_stale(root: Path) -> None:
    """Zips left by responses that never finished (a client gone mid-download)."""
    old = time.time() - STALE_SECONDS
    for path in root.glob(".package-*.zip"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < old:
                path.unlink()


def requirements(meta: dict[str, Any]) -> str:
    """numpy and onnxruntime, from the one that checked the export (it reads its opset) up to
    the next major version."""
    checked = str(meta.get("converter", {}).get("onnxruntime", ORT_FLOOR))
    floor = ".".join(checked.split(".")[:2]) if checked[:1].isdigit() else ORT_FLOOR
    return f"{NUMPY_RANGE}\nonnxruntime>={floor},<2\n"


def readme(name: str, version: int, signature: dict[str, Any], meta: dict[str, Any]) -> str:
    columns = ", ".join(f"`{i['name']}` ({i['type']})" for i in signature["inputs"])
    diff = meta.get("max_abs_diff")
    checked = (
        f"\nThe ONNX model was checked against the original on {meta.get('rows')} sample rows: "
        f"the largest absolute difference was {diff}.\n"
        if diff is not None
        else ""
    )
    return f"""# {name}, version {version}

Exported from Plait. Runs with Python 3.9+, numpy and onnxruntime only.

```sh
python -m venv venv && venv/bin/pip install -r requirements.txt
venv/bin/python predict.py rows.json        # or: ... | venv/bin/python predict.py -
```

`rows.json` holds a JSON list of objects (or `{{"rows": [...]}}`), one per row, with these
inputs: {columns}. Rows are checked against `signature.json` first: a missing or non-numeric
value is reported by row and field (on stderr, exit code 2). The output is JSON:
`{{"predictions": [...], "outputs": {{...every output of the model...}}}}`.
{checked}"""


def zip_response(path: Path, filename: str) -> FileResponse:
    """The zip, streamed; removed once sent (or once the client went away)."""
    return FileResponse(
        path,
        media_type="application/zip",
        filename=filename,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
