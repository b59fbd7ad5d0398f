"""A serving process: `python -m plait.serving.worker <folder> <flavor> <file>`.

Started by the supervisor inside the isolated sandbox (it unpickles what a task made), with
the task environment. It loads the model, answers the init frame with a warm-up prediction
on the signature's sample (`ready`) or the loader's error, then answers predict frames on
stdin/stdout until stdin closes. Anything the model prints goes to stderr, never into the
frames.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plait.serving.protocol import encode, read_frame

Predict = Callable[[list[list[Any]]], list[Any]]


def load(folder: Path, flavor: str, file: str, init: dict[str, Any]) -> Predict:
    """A function from rows (lists in the signature's input order) to predictions."""
    import numpy as np

    path = folder / file
    columns: list[str] = list(init.get("columns") or [])
    if flavor == "onnx":
        import onnxruntime as ort  # type: ignore[import-untyped]

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # small batches: one thread answers soonest
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        name = init.get("input") or session.get_inputs()[0].name
        first = session.get_outputs()[0].name

        def run_onnx(rows: list[list[Any]]) -> list[Any]:
            x = np.asarray(rows, dtype=np.float32)
            out: list[Any] = session.run([first], {name: x})[0].tolist()
            return out

        return run_onnx
    if flavor == "sklearn":
        import joblib  # type: ignore[import-untyped]

        model = joblib.load(path)
    elif flavor == "pickle":
        import pickle

        with path.open("rb") as f:
            model = pickle.load(f)  # noqa: S301 (inside the sandbox: that is what it is for)
    else:
        raise ValueError(f"unknown flavor {flavor!r}")
    if not hasattr(model, "predict"):
        raise TypeError(f"{file} holds a {type(model).__name__}, which has no predict()")
    frame = getattr(model, "feature_names_in_", None) is not None

    def run_native(rows: list[list[Any]]) -> list[Any]:
        if frame:
            import pandas as pd  # type: ignore[import-untyped]

            x: Any = pd.DataFrame(rows, columns=columns)
        else:
            try:
                x = np.asarray(rows, dtype=np.float64)
            except (TypeError, ValueError):
                x = np.asarray(rows, dtype=object)
        out = model.predict(x)
        return list(np.asarray(out).tolist()) if hasattr(out, "__len__") else [out]

    return run_native


def last_line(error: BaseException, folder: Path) -> str:
    """What a person needs of a loader's failure: its last line, without our paths."""
    text = f"{type(error).__name__}: {error}".strip().splitlines()[-1]
    return text.replace(str(folder) + "/", "").replace(str(folder), "<model>")[:1000]


def serve(folder: Path, flavor: str, file: str) -> int:
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a model's prints must not corrupt the frames

    def send(message: dict[str, Any]) -> None:
        out.write(encode(message))
        out.flush()

    init = read_frame(inp)
    if init is None:
        return 0
    try:
        predict = load(folder, flavor, file, init.get("init") or {})
        sample = (init.get("init") or {}).get("sample") or []
        if sample:
            predict(sample)
    except Exception as e:  # any loader failure is the model's: said, not raised
        send({"error": last_line(e, folder)})
        return 1
    send({"ready": True})
    while (request := read_frame(inp)) is not None:
        try:
            send({"id": request["id"], "predictions": predict(request["rows"])})
        except Exception as e:  # the model failed on these rows: said to this request only
            send({"id": request["id"], "error": last_line(e, folder)})
    return 0


def main() -> None:
    folder, flavor, file = sys.argv[1:4]
    sys.exit(serve(Path(folder), flavor, file))


if __name__ == "__main__":
    main()
