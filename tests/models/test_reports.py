"""The server's checks of a task's `model` record (executors/reports.accept): bounds on the
signature, and nothing a task says about the stored files is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plait.executors.reports import Intake, ModelReport, Rejected, accept

INPUTS = [{"name": "a", "type": "double"}]


def record(**changes: Any) -> bytes:
    base = {"type": "model", "name": "iris", "artifact": "model-iris", "flavor": "sklearn",
            "signature": {"inputs": INPUTS, "outputs": [], "sample": [{"a": 1.0}]}}  # fmt: skip
    return json.dumps({**base, **changes}).encode()


def signature(**changes: Any) -> dict[str, Any]:
    return {"inputs": INPUTS, "outputs": [], "sample": [], **changes}


def test_a_valid_record_is_accepted_without_the_files_it_claims(tmp_path: Path) -> None:
    claimed = [{"name": "model.joblib", "size": 1, "sha256": "0" * 64}]
    got = accept(record(files=claimed, key="1/x/1/model-iris"), Intake(1, tmp_path))
    assert isinstance(got, ModelReport)
    assert (got.files, got.key) == (None, None)
    assert got.signature.inputs[0].name == "a"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"flavor": "keras"}, "flavor"),
        ({"name": "9lives"}, "name"),
        ({"artifact": "../etc"}, "artifact"),
        ({"signature": signature(sample=[{"a": i} for i in range(21)])}, "at most 20"),
        (
            {
                "signature": signature(
                    inputs=[{"name": f"c{i}", "type": "double"} for i in range(201)]
                )
            },
            "at most 200",
        ),
        ({"signature": signature(inputs=[{"name": "a", "type": "complex"}])}, "signature"),
        ({"signature": signature(inputs=INPUTS * 2)}, "names an input twice"),
        ({"signature": signature(sample=[{"a": "x" * 6000}] * 12)}, "KiB"),
        ({"tags": ["no spaces"]}, "tags"),
    ],
)
def test_out_of_bounds_records_are_rejected(
    tmp_path: Path, changes: dict[str, Any], why: str
) -> None:
    with pytest.raises(Rejected, match=why):
        accept(record(**changes), Intake(1, tmp_path))
