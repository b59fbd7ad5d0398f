"""The demo workflow loaded on first start, paused (`plait.api.app.load_demo`)."""

from __future__ import annotations

from importlib.resources import files

import yaml

from plait.workflows.spec import WorkflowSpec


def demo_spec() -> WorkflowSpec:
    text = files("plait.demo").joinpath("iris_pipeline.yaml").read_text(encoding="utf-8")
    return WorkflowSpec.model_validate(yaml.safe_load(text))
