"""A draft checked into a proposal: the same checks whoever made the draft (the rules parser
or a language model). Names must exist in the caller's catalog; params go through
`resolve_params`, the function every run's params pass (so its error text is what the user
reads); a dataset must be in the registry, with that version.

Which params take a dataset: a param named `dataset`, `dataset_name` or ending in `_dataset`
takes its name; `dataset_version` (or `<that param>_version`) takes its version. A dataset
named without a version gets its newest one.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from plait.chat.catalog import Catalog, Target
from plait.chat.draft import Draft
from plait.errors import InvalidInput, did_you_mean
from plait.orchestration.params import resolve_params

MAX_LISTED = 20


def dataset_params(schema: dict[str, Any]) -> list[str]:
    """[name param, version param] of a schema (either may be missing)."""
    name = next((p for p in schema if p in ("dataset", "dataset_name")), None)
    name = name or next((p for p in schema if p.endswith("_dataset")), None)
    out = [name] if name else []
    for candidate in ("dataset_version", f"{name}_version" if name else ""):
        if candidate in schema:
            out.append(candidate)
            break
    return out


@dataclass
class Checked:
    proposal: dict[str, Any] | None
    questions: list[str] = field(default_factory=list)
    understood: list[str] = field(default_factory=list)


def check(draft: Draft, catalog: Catalog) -> Checked:
    if draft.kind is None or draft.name is None:
        return Checked(None, list(draft.questions))
    target = catalog.get(draft.kind, draft.name)
    if target is None:
        known = catalog.workflows if draft.kind == "workflow" else catalog.templates
        hint = did_you_mean(draft.name, known)
        listed = ", ".join(sorted(known)[:MAX_LISTED]) or "none"
        return Checked(None, [f"I know no {draft.kind} {draft.name!r}{hint}. I know: {listed}."])
    questions = list(draft.questions)
    params = {k: v for k, v in draft.params.items()}
    dataset = _dataset(draft, target, catalog, params, questions)
    missing: list[str] = []
    try:
        resolve_params(target.params, params)
    except InvalidInput as exc:
        for error in exc.errors:
            name = str(error.loc[1]) if len(error.loc) > 1 else "params"
            if error.type == "missing":
                missing.append(name)
                questions.append(_ask(name, target, catalog))
            else:
                questions.append(f"{name}: {error.msg}{_range(target.params.get(name))}.")
    proposal = {
        "kind": target.kind,
        target.kind: target.name,
        "params": params,
        "params_schema": target.params,
        "dataset": dataset,
        "complete": not questions,
        "missing": missing,
        "not_understood": list(draft.not_understood),
    }
    return Checked(proposal, questions, _understood(target, params, dataset))


def _dataset(
    draft: Draft, target: Target, catalog: Catalog, params: dict[str, Any], questions: list[str]
) -> dict[str, Any] | None:
    takes = dataset_params(target.params)
    said = draft.dataset
    if said is None:
        return None
    if not takes:
        draft.not_understood.append(f"dataset {said.get('name') or ''}".strip()
                                    + f": {target.name} takes no dataset")  # fmt: skip
        return None
    name = said.get("name") or params.get(takes[0]) or target.params[takes[0]].get("default")
    if not name:
        questions.append(f"Which dataset? I know: {_datasets(catalog, list(catalog.datasets))}.")
        return None
    if name not in catalog.datasets:
        close = difflib.get_close_matches(str(name), list(catalog.datasets), n=5, cutoff=0.5)
        questions.append(
            f"I know no dataset {str(name)!r}. "
            + (f"Did you mean {_datasets(catalog, close)}?" if close
               else f"I know: {_datasets(catalog, list(catalog.datasets))}.")
        )  # fmt: skip
        return None
    versions = catalog.datasets[name]
    version = said.get("version")
    if version is None and versions:
        version = versions[-1]
    if version is None or version not in versions:
        have = ", ".join(map(str, versions)) or "none yet"
        questions.append(f"Dataset {name} has no version {version}; its versions: {have}.")
        return {"name": name, "version": version}
    params[takes[0]] = name
    if len(takes) > 1:
        kind = target.params[takes[1]].get("type")
        params[takes[1]] = str(version) if kind == "string" else version
    return {"name": name, "version": version}


def _range(spec: dict[str, Any] | None) -> str:
    """ " (allowed: 1 to 1000)" for a param with bounds."""
    if not spec or (spec.get("minimum") is None and spec.get("maximum") is None):
        return ""
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is not None and high is not None:
        return f" (allowed: {low:g} to {high:g})"
    return (
        f" (allowed: {'>= ' + format(low, 'g') if low is not None else '<= ' + format(high, 'g')})"
    )


def _datasets(catalog: Catalog, names: list[str]) -> str:
    if not names:
        return "no datasets yet"
    return ", ".join(
        f"{n} (versions {', '.join(map(str, catalog.datasets[n][-10:])) or 'none'})"
        for n in names[:MAX_LISTED]
    )


def _ask(name: str, target: Target, catalog: Catalog) -> str:
    takes = dataset_params(target.params)
    if takes and name == takes[0]:
        return f"Which dataset? I know: {_datasets(catalog, list(catalog.datasets))}."
    about = str(target.params.get(name, {}).get("description", "")).strip()
    return f"What value for {name}?" + (f" ({about})" if about else "")


def _understood(
    target: Target, params: dict[str, Any], dataset: dict[str, Any] | None
) -> list[str]:
    out = [f"{target.kind} {target.name}"]
    shown = {
        k: v for k, v in params.items() if not (dataset and k in dataset_params(target.params))
    }
    out += [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in shown.items()]
    if dataset:
        out.append(f"dataset {dataset['name']} version {dataset['version']}")
    return out
