"""`python -m plait.models.convert MODEL_DIR OUT_DIR`: a model version converted to ONNX, in a
process of its own (started by `plait.models.export`, inside the sandbox when it is on).

Loading a model runs whatever its author pickled, so this process is all that ever loads one:
it sees the version's files (read-only) and OUT_DIR, nothing of the server. It reads the
request (`{"file", "flavor", "signature"}`) as JSON on stdin, converts with skl2onnx (one
float32 input `X`, one column per signature input, in order; classifiers without ZipMap),
runs the ONNX model with onnxruntime and the original on the signature's sample, and writes
`model.onnx` and `export.json` into OUT_DIR. What happened goes to OUT_DIR/result.json:
`{"ok": true, ...export.json}` or `{"ok": false, "stage": "load"|"convert"|"check"|"input",
"message": one line, "supported": [...]}`.

Nothing here is trusted by the server: the unpickled code runs in this very process.
"""

from __future__ import annotations

import json
import math
import pickle
import sys
import traceback
from pathlib import Path
from typing import Any

RESULT = "result.json"
EXPORT_META = "export.json"
ONNX_FILE = "model.onnx"
INPUT_NAME = "X"
MESSAGE_MAX = 500
NUMERIC = {"double", "float", "long", "int", "bool"}


class Failed(Exception):
    def __init__(self, stage: str, message: str, supported: list[str] | None = None) -> None:
        super().__init__(message)
        self.stage, self.message, self.supported = stage, message, supported


def last_line(exc: BaseException) -> str:
    """The exception as its last line reads (`Type: message`), without paths of this host
    beyond the model's own file names."""
    lines = [ln for ln in traceback.format_exception_only(type(exc), exc) if ln.strip()]
    text = lines[-1].strip() if lines else type(exc).__name__
    return text[:MESSAGE_MAX]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (f"{type(exc).__name__}: {text[0].strip()}" if text else type(exc).__name__)[
        :MESSAGE_MAX
    ]


def load(folder: Path, file: str, flavor: str) -> Any:
    path = folder / file
    try:
        if flavor == "sklearn" or file.endswith(".joblib"):
            import joblib  # type: ignore[import-untyped]

            return joblib.load(path)
        with path.open("rb") as f:
            return pickle.load(f)  # noqa: S301 (the whole point: in this sandboxed process)
    except BaseException as exc:  # whatever the pickle raises, SystemExit included
        raise Failed("load", f"{file} failed to load: {last_line(exc)}") from None


def matrix(signature: dict[str, Any]) -> tuple[list[str], list[list[float]]]:
    inputs = signature.get("inputs") or []
    columns = [str(i.get("name")) for i in inputs]
    if not columns:
        raise Failed("input", "the version's signature has no inputs")
    for item in inputs:
        if item.get("type") not in NUMERIC:
            raise Failed(
                "input",
                f"input {item.get('name')!r} is of type {item.get('type')!r}: the ONNX export "
                "takes numeric inputs only (double, float, long, int, bool)",
            )
    rows = signature.get("sample") or []
    if not rows:
        raise Failed("input", "the version's signature has no sample rows to check the export on")
    values = []
    for n, row in enumerate(rows):
        try:
            values.append([float(row[c]) for c in columns])
        except (KeyError, TypeError, ValueError):
            raise Failed("input", f"sample row {n} lacks a number in one of {columns}") from None
    return columns, values


def supported_families() -> list[str]:
    """The scikit-learn classes skl2onnx converts (its own map of them, where this version
    has it; else the names of its converters, which group some classes)."""
    try:
        from skl2onnx._supported_operators import sklearn_operator_name_map  # type: ignore[import-untyped]

        names = {cls.__name__ for cls in sklearn_operator_name_map}
    except ImportError:
        from skl2onnx import supported_converters  # type: ignore[import-untyped]

        names = set(supported_converters(from_sklearn=True))
    return sorted(n for n in names if not n.startswith("_"))


def convert(model: Any, width: int) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType  # type: ignore[import-untyped]

    options = {"zipmap": False} if hasattr(model, "predict_proba") else None
    try:
        return convert_sklearn(
            model, initial_types=[(INPUT_NAME, FloatTensorType([None, width]))], options=options
        )
    except Exception as exc:
        reason = f"skl2onnx cannot convert {type(model).__name__}: {first_line(exc)}"
        raise Failed("convert", reason, supported_families()) from None


def native_input(model: Any, columns: list[str], values: list[list[float]]) -> Any:
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    if hasattr(model, "feature_names_in_"):
        import pandas as pd  # type: ignore[import-untyped]

        return pd.DataFrame(array, columns=columns)
    return array


def largest_difference(
    model: Any, onx: Any, columns: list[str], values: list[list[float]]
) -> dict[str, Any]:
    """Run both on the sample; the largest absolute difference over labels (and, for
    classifiers, probabilities vs predict_proba)."""
    import numpy as np
    import onnxruntime as ort  # type: ignore[import-untyped]

    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: np.asarray(values, dtype=np.float32)})
    native = native_input(model, columns, values)
    expected = [np.asarray(model.predict(native))]
    if hasattr(model, "predict_proba") and len(got) > 1:
        expected.append(np.asarray(model.predict_proba(native)))
    worst = 0.0
    mismatches = 0
    for mine, theirs in zip(got, expected, strict=False):
        mine = np.asarray(mine)
        if mine.size != theirs.size:
            raise Failed(
                "check", f"the ONNX output has {mine.size} values, the model {theirs.size}"
            )
        mine, theirs = mine.reshape(theirs.shape), theirs
        if theirs.dtype.kind in "biuf" and mine.dtype.kind in "biuf":
            diff = float(np.max(np.abs(mine.astype(np.float64) - theirs.astype(np.float64))))
        else:  # labels that are strings: a mismatch counts as 1
            wrong = int(np.sum(mine.astype(str) != theirs.astype(str)))
            mismatches += wrong
            diff = 1.0 if wrong else 0.0
        worst = max(worst, diff if math.isfinite(diff) else 1e300)
    outputs = [{"name": o.name, "type": o.type, "shape": [d if isinstance(d, int) else -1
                                                          for d in o.shape]}
               for o in session.get_outputs()]  # fmt: skip
    return {"max_abs_diff": worst, "label_mismatches": mismatches, "outputs": outputs,
            "rows": len(values)}  # fmt: skip


def versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {}
    for name in ("skl2onnx", "onnx", "onnxruntime", "scikit-learn", "numpy"):
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return found


def run(folder: Path, out: Path, request: dict[str, Any]) -> dict[str, Any]:
    columns, values = matrix(request.get("signature") or {})
    model = load(folder, str(request["file"]), str(request.get("flavor")))
    onx = convert(model, len(columns))
    checked = largest_difference(model, onx, columns, values)
    opset = next((o.version for o in onx.opset_import if o.domain in ("", "ai.onnx")), None)
    meta = {"format": 1, "opset": opset, "input": INPUT_NAME, "columns": columns,
            "model_class": type(model).__name__, "converter": versions(), **checked}  # fmt: skip
    (out / ONNX_FILE).write_bytes(onx.SerializeToString())
    (out / EXPORT_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def main(argv: list[str]) -> int:
    folder, out = Path(argv[0]), Path(argv[1])
    result: dict[str, Any]
    try:
        request = json.loads(sys.stdin.read(1024 * 1024))
        result = {"ok": True, **run(folder, out, request)}
    except Failed as exc:
        result = {"ok": False, "stage": exc.stage, "message": exc.message}
        if exc.supported is not None:
            result["supported"] = exc.supported
    except Exception as exc:  # a model whose predict fails on its own sample, and the like
        result = {"ok": False, "stage": "check", "message": last_line(exc)}
    (out / RESULT).write_text(json.dumps(result), encoding="utf-8")
    return 0 if result["ok"] else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
