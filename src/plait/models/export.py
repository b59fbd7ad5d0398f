"""A model version converted to ONNX, and kept beside it.

The conversion loads the model, which runs whatever its author pickled: it happens only in
`python -m plait.models.convert`, a process started with `sandbox.isolated_command` (when the
sandbox is on) and the task environment, seeing the version's checked local copy (read-only)
and one fresh output folder, with a time limit and a limit on the files it writes. What it
reports is not trusted beyond what it is: the server hashes the file it keeps itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import resource
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import ModelExport, ModelVersion
from plait.errors import Conflict, FieldError, InvalidInput
from plait.executors import sandbox
from plait.models.convert import EXPORT_META, ONNX_FILE, RESULT
from plait.models.files import local_copy
from plait.settings import Settings
from plait.storage.artifacts import ArtifactStore

FORMATS = ("onnx",)
STDERR_KEEP = 8 * 1024
RESULT_MAX = 1024 * 1024
MESSAGE_MAX = 500
EXPORTS_CACHE = "cache/exports"  # the conversions' output folders, on the server's disk


class ExportFailed(InvalidInput):
    """The model could not be loaded, converted or checked: a 422 naming why, in one line."""

    def __init__(self, stage: str, reason: str, supported: list[str] | None = None) -> None:
        super().__init__([FieldError(("model",), reason, f"export.{stage}")], reason)
        self.extra["stage"] = stage
        if supported is not None:
            self.extra["supported"] = supported


@dataclass(frozen=True)
class VersionRef:
    """The attempt a version's folder belongs to, read from its artifact key
    (`<run>/<task>/<attempt>/<folder>`): where its exports are kept too."""

    run_id: int
    task_key: str
    attempt: int
    folder: str

    @classmethod
    def of(cls, version: ModelVersion) -> VersionRef:
        parts = version.artifact_key.split("/")
        if len(parts) != 4 or not parts[0].isdigit() or not parts[2].isdigit():
            raise Conflict(f"version {version.version} has no artifact folder to export beside")
        return cls(int(parts[0]), parts[1], int(parts[2]), parts[3])


async def find_export(session: AsyncSession, version: ModelVersion, fmt: str) -> ModelExport | None:
    found: ModelExport | None = await session.scalar(
        select(ModelExport).where(
            ModelExport.model_version_id == version.id, ModelExport.format == fmt
        )
    )
    return found


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        supported = ", ".join(FORMATS)
        raise InvalidInput(
            [
                FieldError(
                    ("format",),
                    f"{fmt!r} is not a format models export to; supported: {supported}",
                    "export.format",
                )
            ]
        )
    return fmt


def check_exportable(version: ModelVersion) -> None:
    """An ONNX version needs no conversion: it is served and packaged as it is (a copy would
    only double what is kept, and a comparison of a model with itself says nothing)."""
    if version.flavor == "onnx":
        raise Conflict(
            f"version {version.version} is already ONNX (flavor onnx): download its model.onnx, "
            "or its package, as it is"
        )


@dataclass
class Converted:
    """A finished conversion: its output folder (model.onnx and export.json) and what it
    says of itself."""

    folder: Path
    meta: dict[str, Any]
    size: int
    sha256: str
    files: list[dict[str, Any]]


async def convert(settings: Settings, store: ArtifactStore, version: ModelVersion) -> Converted:
    """Converts the version in a child process; its output folder is the caller's to remove
    (`discard`). ExportFailed for a model that fails to load, convert or run."""
    source = await local_copy(store, settings.data_dir, version.artifact_key, version.files)
    root = settings.data_dir / EXPORTS_CACHE
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    out = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=root, prefix="convert-"))
    try:
        request = {"file": model_file(version), "flavor": version.flavor,
                   "signature": version.signature}  # fmt: skip
        code, stderr = await _run(settings, source, out, json.dumps(request).encode())
        result = await asyncio.to_thread(_read_result, out)
        if result is None:
            raise ExportFailed("convert", _crashed(code, stderr, settings, source, out))
        if not result.get("ok"):
            raise ExportFailed(
                str(result.get("stage", "convert"))[:20],
                _clean(str(result.get("message", "the conversion failed")), source, out),
                _names(result.get("supported")),
            )
        return await asyncio.to_thread(_finished, out, result)
    except BaseException:
        discard(out)
        raise


def discard(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def model_file(version: ModelVersion) -> str:
    """The model file of the version's folder: the one its flavor names."""
    wanted = {"sklearn": "model.joblib", "pickle": "model.pkl", "onnx": "model.onnx"}
    names = [str(f.get("name")) for f in version.files]
    name = wanted.get(version.flavor)
    if name in names:
        return str(name)
    for candidate in names:
        if candidate.startswith("model.") and candidate != "model.json":
            return candidate
    raise ExportFailed("load", f"version {version.version} has no model file among {names}")


def converter_argv() -> list[str]:
    # -I: no PYTHON* variables, no user site-packages, not the working folder on sys.path.
    return [sys.executable, "-I", "-m", "plait.models.convert"]


async def _run(settings: Settings, source: Path, out: Path, request: bytes) -> tuple[int, bytes]:
    argv = [*converter_argv(), str(source), str(out)]
    boxed = sandbox.sandboxed(settings)
    if boxed:
        argv = sandbox.isolated_command(settings, argv, read_only=[source], writable=[out])
    limit = settings.export_max_bytes

    def limits() -> None:  # in the child, before exec: the files it may write are bounded
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env=sandbox.task_environment(settings, boxed),
        cwd=out, preexec_fn=limits, start_new_session=True,
    )  # fmt: skip
    try:
        return await asyncio.wait_for(_talk(process, request), settings.export_timeout)
    except TimeoutError:
        raise ExportFailed(
            "timeout",
            f"the conversion did not finish within {settings.export_timeout:g} s "
            "(PLAIT_EXPORT_TIMEOUT)",
        ) from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            await process.wait()


async def _talk(process: asyncio.subprocess.Process, request: bytes) -> tuple[int, bytes]:
    assert process.stdin is not None and process.stderr is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(request)
        await process.stdin.drain()
    process.stdin.close()
    tail = b""
    while chunk := await process.stderr.read(64 * 1024):
        tail = (tail + chunk)[-STDERR_KEEP:]  # bounded: only the end is kept
    return await process.wait(), tail


def _read_result(out: Path) -> dict[str, Any] | None:
    path = out / RESULT
    try:
        if path.is_symlink() or path.stat().st_size > RESULT_MAX:
            return None
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _crashed(code: int, stderr: bytes, settings: Settings, source: Path, out: Path) -> str:
    lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    last = _clean(lines[-1], source, out) if lines else "no message"
    if code < 0:
        return f"the conversion process was killed by signal {-code}: {last}"
    return f"the conversion process exited with code {code}: {last}"


def _clean(message: str, source: Path, out: Path) -> str:
    """One line, without the paths of this host (the model's own file names stay)."""
    for folder in (source, out, source.resolve(), out.resolve()):
        message = message.replace(f"{folder}/", "").replace(str(folder), ".")
    line = " ".join(message.split())
    return line[:MESSAGE_MAX]


def _names(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [str(v)[:100] for v in value[:500]]


def _finished(out: Path, result: dict[str, Any]) -> Converted:
    (out / RESULT).unlink(missing_ok=True)
    files: list[dict[str, Any]] = []
    for name in (ONNX_FILE, EXPORT_META):
        path = out / name
        if path.is_symlink() or not path.is_file():
            raise ExportFailed("convert", f"the conversion left no {name}")
        files.append({"name": name, "size": path.stat().st_size, "sha256": _sha256(path)})
    for extra in out.iterdir():  # only what is kept is stored
        if extra.name not in (ONNX_FILE, EXPORT_META):
            if extra.is_dir() and not extra.is_symlink():
                shutil.rmtree(extra)
            else:
                extra.unlink()
    onnx = files[0]
    return Converted(out, _meta(result), int(onnx["size"]), str(onnx["sha256"]), files)


def _meta(result: dict[str, Any]) -> dict[str, Any]:
    """What the converter said, bounded and typed (it ran beside the model's own code)."""
    diff = result.get("max_abs_diff")
    keep = {
        "opset": result.get("opset") if isinstance(result.get("opset"), int) else None,
        "input": str(result.get("input", "X"))[:100],
        "columns": [str(c)[:200] for c in (result.get("columns") or [])[:10_000]],
        "outputs": [o for o in (result.get("outputs") or [])[:20] if isinstance(o, dict)],
        "converter": {str(k)[:50]: str(v)[:50] for k, v in
                      dict(result.get("converter") or {}).items()},
        "model_class": str(result.get("model_class", ""))[:200],
        "rows": result.get("rows") if isinstance(result.get("rows"), int) else None,
        "label_mismatches": int(result.get("label_mismatches") or 0),
        "max_abs_diff": float(diff) if isinstance(diff, int | float) else None,
    }  # fmt: skip
    return keep


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


async def keep(store: ArtifactStore, version: ModelVersion, converted: Converted, fmt: str) -> str:
    """Stores the output folder beside the version's (a new key each time: a replaced export
    never changes what an older key, or a cached copy of it, holds); its key."""
    ref = VersionRef.of(version)
    name = f"{ref.folder}.{fmt}.{secrets.token_hex(4)}"
    return await store.put_file(ref, name, converted.folder)


def within_tolerance(settings: Settings, diff: float | None) -> bool:
    return diff is not None and diff <= settings.export_tolerance


async def local_export(settings: Settings, store: ArtifactStore, export: ModelExport) -> Path:
    """The export's folder on this host, each file checked against what was recorded."""
    return await local_copy(store, settings.data_dir, export.stored_key, export.meta["files"])
