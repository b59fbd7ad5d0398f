"""Benchmark predictions over HTTP: a deployment of a small ONNX model (iris, logistic
regression) on the real server (`plait server`, SQLite, the serving process in the task
sandbox as configured), asked by one keep-alive httpx client on loopback.

For batch 1 and batch 64 it sends `--requests` predicts, `--runs` times, and prints the
median of the runs' p50 and p99 latency (client side, whole HTTP round trip) and rows/s.
The floor is onnxruntime's InferenceSession.run in this process on the same rows (the array
already built): what no server can beat. Goal: p50 < 2 ms at batch 1; at batch 64 at least
half the floor's rows/s.

    .venv/bin/python bench/predict_latency.py [--requests 2000] [--runs 5]

The model is trained, converted and logged by a task of a real run (`plait.log_model`), and
the floor runs the very file the registry keeps. Exits 1 when a predict fails, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from _server import BenchError, guarded, login, print_footer, print_header, running_server

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


# The model is made the way users make one: a task trains it, converts it to ONNX and logs it.
TRAIN = """
import numpy as np, pandas as pd, plait
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

x, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=300).fit(x, y)
proto = to_onnx(model, x[:5].astype(np.float32), options={"zipmap": False}, target_opset=17)
sample = pd.DataFrame(x[:5], columns=COLUMNS)
plait.log_model(proto, "iris", flavor="onnx", sample=sample)
""".replace("COLUMNS", repr(COLUMNS))


def iris_rows() -> list[dict[str, float]]:
    from sklearn.datasets import load_iris  # type: ignore[import-untyped]

    x, _ = load_iris(return_X_y=True)
    return [dict(zip(COLUMNS, map(float, r), strict=True)) for r in x]


def logged_model(http: httpx.Client) -> bytes:
    """Run the training workflow; the ONNX file it logged, as the registry keeps it."""
    task = {"key": "fit", "kind": "python", "code": TRAIN}
    made = http.post("/api/v1/workflows", json={"name": "train-iris", "tasks": [task]})
    if made.status_code != 201:
        raise BenchError(f"workflow: {made.status_code} {made.text[:300]}")
    run = http.post("/api/v1/workflows/train-iris/runs", json={}).json()
    deadline = time.monotonic() + 120
    while (found := http.get(f"/api/v1/runs/{run['id']}").json())["status"] != "succeeded":
        if found["status"] in ("failed", "cancelled") or time.monotonic() > deadline:
            raise BenchError(f"the training run did not succeed: {found['status']}")
        time.sleep(0.2)
    return http.get("/api/v1/models/iris/versions/1/files/model.onnx").content


Figures = tuple[float, float, float]  # p50 ms, p99 ms, rows/s


def measure(http: httpx.Client, rows: list[dict[str, float]], requests: int) -> Figures:
    """`requests` sequential predicts of `rows` (GET /healthz when `rows` is empty)."""
    body = json.dumps({"rows": rows}).encode()
    headers = {"content-type": "application/json"}
    url = "/api/v1/deployments/iris/predict"
    times = []
    start = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        got = http.post(url, content=body, headers=headers) if rows else http.get("/healthz")
        times.append((time.perf_counter() - t0) * 1000)
        if got.status_code != 200:
            raise RuntimeError(f"answered {got.status_code}: {got.text[:300]}")
    wall = time.perf_counter() - start
    times.sort()
    rate = requests * max(1, len(rows)) / wall
    return times[len(times) // 2], times[int(len(times) * 0.99)], rate


def floor(onnx: bytes, rows: list[dict[str, float]], requests: int) -> Figures:
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx, sess_options=options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.asarray([[r[c] for c in COLUMNS] for r in rows], dtype=np.float32)
    times = []
    start = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1000)
    wall = time.perf_counter() - start
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)], requests * len(rows) / wall


def median_of(runs: list[Figures]) -> Figures:
    p50, p99, rate = (statistics.median(r[i] for r in runs) for i in range(3))
    return p50, p99, rate


def line(label: str, fig: Figures) -> None:
    print(f"{label:<26}{fig[0]:9.3f}{fig[1]:9.3f}{fig[2]:12.0f}")


def bench(args: argparse.Namespace) -> int:
    started = print_header("SQLite, one uvicorn process, ONNX logistic regression on iris")
    rows = iris_rows()
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="plait-bench-predict-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        db_url = f"sqlite+aiosqlite:///{data / 'plait.db'}"
        env = {"PLAIT_DATA_DIR": str(data), "PLAIT_DATABASE_URL": db_url,
               "PLAIT_ADMIN_PASSWORD": password, "PLAIT_LOAD_DEMO": "false",
               "PLAIT_SECRET_KEY": secrets.token_urlsafe(48),
               "PLAIT_LOG_LEVEL": "WARNING"}  # fmt: skip  # fmt: skip
        with running_server(data, env) as server:
            token = login(server.base, password)
            with httpx.Client(base_url=server.base, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as http:  # fmt: skip
                onnx = logged_model(http)
                made = http.post("/api/v1/deployments", json={"name": "iris", "model": "iris",
                                                              "version": 1})  # fmt: skip
                if made.status_code != 201:
                    raise BenchError(f"deploy failed: {made.status_code} {made.text[:300]}")
                deadline = time.monotonic() + 120
                while (shown := http.get("/api/v1/deployments/iris").json())["status"] != "serving":
                    if shown["status"] == "failed" or time.monotonic() > deadline:
                        raise BenchError(f"deployment did not serve: {shown}")
                    time.sleep(0.2)
                print(f"\n{'':26}{'p50 ms':>9}{'p99 ms':>9}{'rows/s':>12}")
                runs = args.runs
                health = median_of([measure(http, [], args.requests) for _ in range(runs)])
                line("GET /healthz (no auth)", health)
                for batch in (1, 64):
                    sent = rows[:batch]
                    measure(http, sent, min(200, args.requests))  # warm-up
                    got = median_of([measure(http, sent, args.requests) for _ in range(runs)])
                    low = median_of([floor(onnx, sent, args.requests) for _ in range(runs)])
                    line(f"batch {batch}: HTTP predict", got)
                    line(f"batch {batch}: floor (ort.run)", low)
                    print(
                        f"{f'batch {batch}: HTTP / floor':<26}{got[0] / low[0]:8.0f}x"
                        f"{got[1] / low[1]:8.0f}x{got[2] / low[2]:11.4f}x"
                    )
                traffic = http.get("/api/v1/deployments/iris").json()["traffic"]
                print(
                    f"\nin the server (its traffic counters): p50 {traffic['p50_ms']} ms, "
                    f"p99 {traffic['p99_ms']} ms over {traffic['window_requests']} predicts"
                )
    print_footer(started)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    result = guarded(lambda: bench(args), failed=(RuntimeError,))
    return result


if __name__ == "__main__":
    sys.exit(main())
