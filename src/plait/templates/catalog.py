"""The built-in templates: YAML files shipped in `catalog/`, each a workflow document as
`plait export` writes it plus a `template` block (category, author). They are read-only and
listed with the id `builtin:<name>`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from plait.workflows.spec import WorkflowSpec
from plait.workflows.store import validate

BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class Builtin:
    name: str
    description: str
    category: str
    author: str
    spec: dict[str, Any]  # canonical, as a workflow version stores it

    @property
    def id(self) -> str:
        return f"{BUILTIN_PREFIX}{self.name}"


def _read(text: str) -> Builtin:
    document = yaml.safe_load(text)
    meta = document.pop("template")
    spec = validate(WorkflowSpec.model_validate(document))  # a broken file fails loudly
    return Builtin(spec["name"], spec["description"], meta["category"], meta["author"], spec)


@cache
def builtins() -> dict[str, Builtin]:
    """Every built-in template by name, in name order (read once per process)."""
    folder = files("plait.templates").joinpath("catalog")
    found = [_read(f.read_text(encoding="utf-8")) for f in folder.iterdir()
             if f.name.endswith(".yaml")]  # fmt: skip
    return {b.name: b for b in sorted(found, key=lambda b: b.name)}
