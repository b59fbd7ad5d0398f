"""A workflow's definition as YAML: what `plait export` writes and the UI's YAML tab shows.

One serializer, on the server's side of the API too (GET /api/v1/workflows/{ref}/export), so
the CLI and the browser show the same bytes."""

from __future__ import annotations

from typing import Any

import yaml

from plait.workflows.spec import WorkflowSpec


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line code and commands read best as literal blocks.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(document: dict[str, Any]) -> str:
    """The definition in `document`, defaults left out, as YAML that `apply` takes back as is."""
    spec = WorkflowSpec.model_validate(
        {k: v for k, v in document.items() if k in WorkflowSpec.model_fields}
    )
    data = spec.model_dump(mode="json", exclude_defaults=True)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
