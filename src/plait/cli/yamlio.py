"""Workflow documents as YAML: what `plait export` writes and `plait apply` reads."""

from __future__ import annotations

import re
from typing import Any

import yaml

from plait.workflows.export import to_yaml as to_yaml  # the server writes the same YAML


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `on` and `off` as booleans, which turns a trigger's `on: success` into
    `True: success`; here they stay strings (`yes`, `no`, `true`, `false` are still booleans)."""


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL,
    re.compile(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE)$"),
    list("yYnNtTfF"),
)


def from_yaml(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    if not isinstance(data, dict):
        raise ValueError("a workflow file is a YAML mapping with at least `name` and `tasks`")
    return data
