"""Predictions of the ONNX model beside this script: `python predict.py ROWS.json` (or `-`
for stdin). ROWS is a JSON list of objects (or {"rows": [...]}), each with the inputs named
in signature.json. Prints {"predictions": [...], "outputs": {name: [...]}} as JSON.

Standalone: needs numpy and onnxruntime only (see requirements.txt). Shipped by Plait in a
model package as predict.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NUMBER_TYPES = ("double", "float", "long", "int")
MAX_ERRORS = 50


def read_rows(source: str) -> list[Any]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    data = json.loads(text)
    if isinstance(data, dict) and "rows" in data:
        data = data["rows"]
    if not isinstance(data, list):
        raise ValueError('expected a JSON list of rows, or {"rows": [...]}')
    return data


def check(rows: list[Any], inputs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Problems with the rows, by row and field, e.g. rows[3].sepal_length: missing."""
    errors = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            errors.append({"field": f"rows[{n}]", "message": "expected an object"})
            continue
        for item in inputs:
            name, kind = item["name"], item["type"]
            field = f"rows[{n}].{name}"
            if name not in row:
                errors.append({"field": field, "message": "missing"})
                continue
            value = row[name]
            if kind == "bool":
                if not isinstance(value, bool):
                    errors.append(
                        {"field": field, "message": f"expected true or false, got {value!r}"}
                    )
            elif kind in NUMBER_TYPES:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    errors.append({"field": field, "message": f"expected a number, got {value!r}"})
                elif kind in ("long", "int") and float(value) != int(value):
                    errors.append(
                        {"field": field, "message": f"expected an integer, got {value!r}"}
                    )
            else:
                errors.append({"field": field, "message": f"type {kind!r} is not supported here"})
    return errors[:MAX_ERRORS]


def predict(rows: list[dict[str, Any]], inputs: list[dict[str, Any]]) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    session = ort.InferenceSession(str(HERE / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [item["name"] for item in inputs]
    matrix = [[float(row[name]) for name in names] for row in rows]
    graph_inputs = session.get_inputs()
    dtypes = {"tensor(float)": np.float32, "tensor(double)": np.float64,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32}  # fmt: skip
    if len(graph_inputs) == 1:
        dtype = dtypes.get(graph_inputs[0].type, np.float32)
        feeds = {graph_inputs[0].name: np.asarray(matrix, dtype=dtype)}
    else:  # one graph input per column, by name
        feeds = {}
        for g in graph_inputs:
            column = [[row[g.name]] for row in rows]
            feeds[g.name] = np.asarray(column, dtype=dtypes.get(g.type, np.float32))
    results = session.run(None, feeds)
    outputs = {o.name: np.asarray(r).tolist() for o, r in zip(session.get_outputs(), results)}  # noqa: B905 (3.9)
    first = np.asarray(results[0])
    predictions = first.reshape(len(rows)).tolist() if first.size == len(rows) else first.tolist()
    return {"predictions": predictions, "outputs": outputs}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python predict.py ROWS.json   (or - to read stdin)", file=sys.stderr)
        return 2
    signature = json.loads((HERE / "signature.json").read_text(encoding="utf-8"))
    inputs = signature["inputs"]
    try:
        rows = read_rows(argv[0])
    except (OSError, ValueError) as exc:
        print(json.dumps({"errors": [{"field": "rows", "message": str(exc)}]}), file=sys.stderr)
        return 2
    errors = check(rows, inputs)
    if errors:
        print(json.dumps({"errors": errors}), file=sys.stderr)
        return 2
    print(json.dumps(predict(rows, inputs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
