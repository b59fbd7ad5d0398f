"""What a provider (the rules parser or a language model) makes of a message: a draft, which
`proposal.check` then validates the same way whoever made it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Intent = Literal["propose", "confirm", "reset"]


@dataclass
class Draft:
    kind: str | None = None  # "workflow" | "template"
    name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # every value said so far
    dataset: dict[str, Any] | None = None  # {"name": str | None, "version": int | None}
    not_understood: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said back as is ("dropped lr: ...")
    intent: Intent = "propose"
    alternatives: list[tuple[str, str]] = field(default_factory=list)  # other (kind, name)s


def current_draft(proposal: dict[str, Any] | None) -> Draft:
    """The last proposal as a draft to edit (a started one too: a follow-up after a run
    proposes the next run from it). An empty draft when there is none."""
    if not proposal:
        return Draft()
    kind = proposal.get("kind")
    return Draft(
        kind=kind,
        name=proposal.get(kind) if isinstance(kind, str) else None,
        params=dict(proposal.get("params") or {}),
        dataset=dict(proposal["dataset"]) if proposal.get("dataset") else None,
    )
