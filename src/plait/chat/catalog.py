"""What a proposal may name, as the caller sees it: workflows (with their params schema),
templates (built-in, public and their own) and datasets with their versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.auth.roles import Principal
from plait.db.models import Dataset, DatasetVersion, Workflow
from plait.templates import store as templates
from plait.templates.catalog import builtins

Kind = Literal["workflow", "template"]
MAX_ENTRIES = 500  # per kind: what a message is matched against (and an LLM is sent)
MAX_VERSIONS = 50  # per dataset, the newest


@dataclass(frozen=True)
class Target:
    kind: Kind
    name: str
    description: str
    params: dict[str, Any]  # the params schema
    tags: tuple[str, ...] = ()


@dataclass
class Catalog:
    workflows: dict[str, Target] = field(default_factory=dict)
    templates: dict[str, Target] = field(default_factory=dict)
    datasets: dict[str, list[int]] = field(default_factory=dict)  # name -> versions, ascending

    def get(self, kind: str, name: str) -> Target | None:
        return (self.workflows if kind == "workflow" else self.templates).get(name)

    def targets(self) -> list[Target]:
        return [*self.workflows.values(), *self.templates.values()]

    def as_json(self) -> dict[str, Any]:
        """What a language model is told (bounded: descriptions cut, versions the newest)."""

        def entry(t: Target) -> dict[str, Any]:
            return {"name": t.name, "description": t.description[:500], "tags": list(t.tags),
                    "params": t.params}  # fmt: skip

        return {
            "workflows": [entry(t) for t in self.workflows.values()],
            "templates": [entry(t) for t in self.templates.values()],
            "datasets": [{"name": n, "versions": v[-20:]} for n, v in self.datasets.items()],
        }


async def load(session: AsyncSession, who: Principal) -> Catalog:
    out = Catalog()
    rows = await session.execute(
        select(Workflow.name, Workflow.description, Workflow.tags, Workflow.spec)
        .order_by(Workflow.name)
        .limit(MAX_ENTRIES)
    )
    for name, description, tags, spec in rows:
        out.workflows[name] = Target("workflow", name, description or "",
                                     dict(spec.get("params", {})), tuple(tags or ()))  # fmt: skip
    for b in builtins().values():
        out.templates[b.name] = Target("template", b.name, b.description,
                                       dict(b.spec.get("params", {})))  # fmt: skip
    query = templates.rows_query(who, None, None).limit(MAX_ENTRIES)
    for row, _owner in await session.execute(query):
        out.templates.setdefault(row.name, Target("template", row.name, row.description or "",
                                                  dict(row.spec.get("params", {}))))  # fmt: skip
    versions = await session.execute(
        select(Dataset.name, DatasetVersion.version)
        .outerjoin(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
        .order_by(Dataset.name, DatasetVersion.version)
        .limit(MAX_ENTRIES * MAX_VERSIONS)
    )
    for name, version in versions:
        found = out.datasets.setdefault(name, [])
        if version is not None:
            found.append(version)
            del found[:-MAX_VERSIONS]
    return out
