"""Run parameters: what a caller gives, checked against the workflow's schema, with defaults."""

from __future__ import annotations

from typing import Any

from plait import bounded
from plait.errors import FieldError, InvalidInput, did_you_mean
from plait.workflows.spec import ParamSpec, value_problems


def resolve_params(schema: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The run's params: `given` merged over the defaults, or InvalidInput naming each field."""
    specs = {name: ParamSpec.model_validate(raw) for name, raw in schema.items()}
    errors = [
        FieldError(("params", key), _unknown(key, specs), "unknown")
        for key in given
        if key not in specs
    ]
    # Bounded here, where every run's params pass (API, hooks, schedules, chains): a value
    # nested deeper is stored fine but then breaks every read of the run.
    too_deep = {k for k, v in given.items() if bounded.depth(v) > bounded.MAX_DEPTH}
    errors += [
        FieldError(("params", key), f"nested deeper than {bounded.MAX_DEPTH} levels", "depth")
        for key in sorted(too_deep)
        if key in specs
    ]
    resolved: dict[str, Any] = {}
    for name, spec in specs.items():
        if name in too_deep:
            continue
        if name in given:
            errors += value_problems(("params", name), spec, given[name])
            resolved[name] = given[name]
        elif spec.default is not None:
            resolved[name] = spec.default
        elif spec.required:
            errors.append(FieldError(("params", name), "required parameter missing", "missing"))
    if errors:
        raise InvalidInput(errors)
    return resolved


def _unknown(name: str, specs: dict[str, ParamSpec]) -> str:
    if not specs:
        return "unknown parameter; this workflow takes no parameters"
    return "unknown parameter" + (
        did_you_mean(name, specs) or f"; this workflow takes {', '.join(sorted(specs))}"
    )
