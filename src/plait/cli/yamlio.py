"""Workflow documents as YAML: what `plait export` writes and `plait apply` reads.

Reading keeps the YAML nodes beside the data, so a problem the server finds in a field can be
shown at its line of the file (`wf.yaml:12: tasks.train.depends_on: unknown task ...`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

from plait.cli.client import ApiError
from plait.workflows.export import to_yaml as to_yaml  # the server writes the same YAML


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `on` and `off` as booleans, which turns a trigger's `on: success` into
    `True: success`; here they stay strings (`yes`, `no`, `true`, `false` are still booleans).

    A key given twice in one mapping is refused: YAML says keys are unique, yet PyYAML keeps
    the last silently, which loses the first task's code without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` merges keys that this mapping may override
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base class refuses it, with its own message
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key]})",
                    key_node.start_mark,
                )  # fmt: skip
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


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


class NotAWorkflow(ValueError):
    """A file that does not read as a workflow document; the message names the file and line."""


@dataclass(frozen=True)
class WorkflowFile:
    """A workflow document read from `source` (a file name), with the nodes it came from."""

    source: str
    data: dict[str, Any]
    root: yaml.Node

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line (from 1) of the field at `loc`, or of the nearest part of it in the file."""
        node, line = self.root, None
        for part in loc:
            node, found = _child(node, part)
            if node is None:
                break
            line = found
        return line

    @contextmanager
    def locating(self) -> Iterator[None]:
        """Problems the server finds in this document name the line of each field."""
        try:
            yield
        except ApiError as exc:
            for error in exc.errors:
                line = self.line_of(error.get("loc") or [])
                if line is not None:
                    error["field"] = f"{self.source}:{line}: {error.get('field') or '(document)'}"
            raise


def _child(node: yaml.Node, part: str | int) -> tuple[Any, int | None]:
    """The node under `node` at `part`, and the line that shows it (a key's own line)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value, key.start_mark.line + 1
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item, item.start_mark.line + 1
    return None, None


def read_workflow(text: str, source: str = "<document>") -> WorkflowFile:
    """The workflow document in `text`, or NotAWorkflow saying where (`wf.yaml:3:5: ...`)."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        raise NotAWorkflow(_where(source, exc)) from None
    except yaml.YAMLError as exc:
        raise NotAWorkflow(f"{source}: {exc}") from None
    finally:
        loader.dispose()
    if root is None or not isinstance(data, dict):
        raise NotAWorkflow(
            f"{source}: a workflow file is a YAML mapping with at least `name` and `tasks`"
        )
    return WorkflowFile(source, data, root)


def _where(source: str, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    at = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    context = f" ({exc.context} at line {exc.context_mark.line + 1})" if exc.context_mark else ""
    return f"{at}: {exc.problem or exc.context}{context if exc.problem else ''}"


def from_yaml(text: str, source: str = "<document>") -> dict[str, Any]:
    return read_workflow(text, source).data
