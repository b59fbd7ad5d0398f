"""`import plait` in a task stays light: the ML packages log_model needs are imported when a
model is logged, not before (a task without scikit-learn still imports the SDK)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "pandas", "joblib", "sklearn", "onnx")
CHECK = f"""
import sys
import plait
import plait.models.folder
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_the_sdk_imports_no_ml_package() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    assert out.stdout.strip() == "[]"
    assert callable(__import__("plait").log_model)
