"""The model folder `plait.log_model` writes, run inside a task: `MLmodel.json`, the model
file and a signature inferred from a sample (design: the contract between logging, export
and serving). Imports only the standard library at import time: numpy, pandas, joblib and
onnx are imported when a model needs them, so `import plait` works without them.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import pickle
import platform
import re
import shutil
import sys
from pathlib import Path
from typing import Any

FLAVORS = {"sklearn": "model.joblib", "onnx": "model.onnx", "pickle": "model.pkl"}
TYPES = ("double", "float", "long", "int", "bool", "string")
MAX_SAMPLE_ROWS = 20
MAX_INPUTS = 200
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_DESCRIPTION = 10_000
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")
TAG = re.compile(r"^[\w.:/-]{1,64}$")
COLUMN = re.compile(r"^[^\x00]{1,200}$")
# Modules whose versions are worth recording, by the distribution that provides them.
_PACKAGES = {"sklearn": "scikit-learn", "numpy": "numpy", "pandas": "pandas",
             "joblib": "joblib", "onnx": "onnx", "xgboost": "xgboost",
             "lightgbm": "lightgbm", "torch": "torch"}  # fmt: skip


def check_arguments(name: object, flavor: object, description: object, tags: object) -> None:
    """The rules the server applies too (executors/reports.py), checked at the source."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"model name {name!r}: letters, digits, - and _, a letter first, "
                         "at most 100 characters")  # fmt: skip
    if flavor not in FLAVORS:
        raise ValueError(f"flavor {flavor!r} is not one of {', '.join(FLAVORS)}")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise ValueError(f"description: a string of at most {MAX_DESCRIPTION} characters")
    if tags is not None and (
        not isinstance(tags, list | tuple)
        or len(tags) > 50
        or not all(isinstance(t, str) and TAG.match(t) for t in tags)
    ):
        raise ValueError("tags: at most 50, each letters, digits and _ . : / -, at most 64")


def write(folder: Path, obj_or_path: Any, name: str, flavor: str, sample: Any) -> dict[str, Any]:
    """Writes the model folder into `folder` (which exists, empty); its MLmodel document."""
    filename = FLAVORS[flavor]
    target = folder / filename
    if isinstance(obj_or_path, str | os.PathLike):
        source = Path(obj_or_path)
        if not source.is_file():
            raise FileNotFoundError(f"no such model file: {source}")
        shutil.copyfile(source, target)
    else:
        _dump(obj_or_path, flavor, target)
    inputs, rows, frame = _inputs(sample) if sample is not None else ([], [], None)
    outputs = _outputs(flavor, target, obj_or_path, frame) if sample is not None else []
    if flavor == "onnx" and sample is None:
        outputs = _onnx_outputs(target)
    signature = {"inputs": inputs, "outputs": outputs, "sample": rows}
    size = len(json.dumps(signature, allow_nan=False))
    if size > MAX_SIGNATURE_BYTES:
        raise ValueError(f"the signature is {size} bytes as JSON, over the "
                         f"{MAX_SIGNATURE_BYTES // 1024} KiB limit: pass fewer or narrower "
                         "sample rows")  # fmt: skip
    document = {"format": 1, "name": name, "flavor": flavor, "file": filename,
                "signature": signature, "framework": framework()}  # fmt: skip
    (folder / "MLmodel.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    return document


def _dump(obj: Any, flavor: str, target: Path) -> None:
    if flavor == "sklearn":
        import joblib  # type: ignore[import-untyped]

        joblib.dump(obj, target)
    elif flavor == "pickle":
        with target.open("wb") as f:
            pickle.dump(obj, f)
    else:
        serialize = getattr(obj, "SerializeToString", None)
        if serialize is None:
            raise ValueError("flavor 'onnx' takes an onnx.ModelProto or the path of a .onnx file")
        target.write_bytes(serialize())


def framework() -> dict[str, str]:
    """The Python version and the versions of the ML packages the task has imported."""
    found = {"python": platform.python_version()}
    for module, dist in _PACKAGES.items():
        if module in sys.modules:
            try:
                found[module] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


# --- signatures ------------------------------------------------------------------------------


def _type_of_dtype(dtype: Any) -> str:
    kind, size = dtype.kind, dtype.itemsize
    if kind == "f":
        return "double" if size >= 8 else "float"
    if kind in "iu":
        return "long" if size >= 8 else "int"
    if kind == "b":
        return "bool"
    return "string"


def _type_of_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    return None


def _plain(value: Any) -> Any:
    """A JSON value for a sample cell: numpy scalars unwrapped, NaN as null."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        value = item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _check_width(width: int) -> None:
    if width == 0:
        raise ValueError("sample has no columns")
    if width > MAX_INPUTS:
        raise ValueError(f"sample has {width} columns, over the limit of {MAX_INPUTS} inputs")


def _inputs(sample: Any) -> tuple[list[dict[str, str]], list[dict[str, Any]], Any]:
    """The inputs, the first rows as JSON objects, and what to call `predict` with."""
    if hasattr(sample, "columns") and hasattr(sample, "dtypes") and hasattr(sample, "iloc"):
        _check_width(len(sample.columns))
        if len(sample) == 0:
            raise ValueError("sample has no rows")
        names = [str(c) for c in sample.columns]
        if len(set(names)) != len(names) or not all(COLUMN.match(n) for n in names):
            raise ValueError("sample's column names must be distinct, 1 to 200 characters")
        inputs = [
            {"name": n, "type": _type_of_dtype(t)}
            for n, t in zip(names, sample.dtypes, strict=True)
        ]
        head = sample.iloc[:MAX_SAMPLE_ROWS]
        rows = [
            {n: _plain(v) for n, v in zip(names, row, strict=False)}
            for row in head.itertuples(index=False)
        ]
        return inputs, rows, sample
    if hasattr(sample, "ndim") and hasattr(sample, "dtype") and hasattr(sample, "shape"):
        if sample.ndim != 2:
            raise ValueError(f"sample is a {sample.ndim}-D array; give a 2-D array "
                             "(one row per example), a DataFrame or a list of dicts")  # fmt: skip
        _check_width(sample.shape[1])
        if sample.shape[0] == 0:
            raise ValueError("sample has no rows")
        names = [f"f{i}" for i in range(sample.shape[1])]
        kind = _type_of_dtype(sample.dtype)
        rows = [
            {n: _plain(v) for n, v in zip(names, row, strict=False)}
            for row in sample[:MAX_SAMPLE_ROWS]
        ]
        return [{"name": n, "type": kind} for n in names], rows, sample
    if isinstance(sample, list | tuple):
        return _records(list(sample))
    raise ValueError(f"sample is a {type(sample).__name__}; give a pandas DataFrame, a 2-D "
                     "numpy array or a list of dicts")  # fmt: skip


def _records(sample: list[Any]) -> tuple[list[dict[str, str]], list[dict[str, Any]], Any]:
    if not sample or not all(isinstance(r, dict) for r in sample):
        raise ValueError("sample as a list holds at least one row, each a dict of column -> value")
    names = [str(k) for k in sample[0]]
    _check_width(len(names))
    if not all(COLUMN.match(n) for n in names):
        raise ValueError("sample's column names are 1 to 200 characters")
    inputs = []
    for i, row in enumerate(sample):
        if [str(k) for k in row] != names:
            raise ValueError(f"sample row {i} has other columns than row 0")
    for name in names:
        kind = _type_of_value(sample[0][name])
        if kind is None:
            raise ValueError(f"sample column {name!r}: a number, a bool or a string, "
                             f"got {type(sample[0][name]).__name__}")  # fmt: skip
        inputs.append({"name": name, "type": kind})
    rows = [{n: _plain(r[n]) for n in names} for r in sample[:MAX_SAMPLE_ROWS]]
    try:
        import pandas  # type: ignore[import-untyped]

        frame: Any = pandas.DataFrame(sample, columns=names)
    except ImportError:
        frame = [[r[n] for n in names] for r in sample]
    return inputs, rows, frame


def _outputs(flavor: str, target: Path, obj: Any, frame: Any) -> list[dict[str, Any]]:
    if flavor == "onnx":
        return _onnx_outputs(target)
    model = obj
    if isinstance(obj, str | os.PathLike):
        model = _load(flavor, target)
    predict = getattr(model, "predict", None)
    if predict is None:
        return []
    try:
        result = predict(frame)
    except Exception as exc:  # the task's own model: its message is what the user needs
        raise ValueError(
            f"the model could not predict on the sample ({type(exc).__name__}: "
            f"{exc}); the sample must look like what it was fitted on"
        ) from None
    import numpy

    array = numpy.asarray(result)
    shape = [-1] if array.ndim <= 1 else [-1, *array.shape[1:]]
    return [{"name": "prediction", "type": _type_of_dtype(array.dtype), "shape": shape}]


def _load(flavor: str, path: Path) -> Any:
    if flavor == "sklearn":
        import joblib

        return joblib.load(path)
    with path.open("rb") as f:
        return pickle.load(f)  # noqa: S301 (the task's own file, in the task)


_ONNX_TYPES = {1: "float", 11: "double", 6: "int", 7: "long", 9: "bool", 8: "string"}


def _onnx_outputs(path: Path) -> list[dict[str, Any]]:
    try:
        import onnx
    except ImportError:
        return []
    graph = onnx.load(str(path)).graph
    outputs = []
    for out in graph.output:
        tensor = out.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        shape = [-1, *dims[1:]] if dims else [-1]
        outputs.append({"name": out.name, "type": _ONNX_TYPES.get(tensor.elem_type, "double"),
                        "shape": shape})  # fmt: skip
    return outputs
