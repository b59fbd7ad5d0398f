"""Who reads a message: a provider by name (`rules`, the default; `openai`, any
OpenAI-compatible API), imported lazily like the other pluggable backends."""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from plait.chat.catalog import Catalog
from plait.chat.draft import Draft
from plait.settings import Settings

PROVIDERS = {"rules": "plait.chat.parser:RulesProvider", "openai": "plait.chat.llm:LlmProvider"}


class ProviderError(Exception):
    """The provider gave no usable answer; `reason` is safe to show (no key, no body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class Provider(Protocol):
    name: str

    async def propose(
        self,
        message: str,
        history: list[dict[str, Any]],
        catalog: Catalog,
        proposal: dict[str, Any] | None,
        alternatives: list[tuple[str, str]],
    ) -> Draft:
        """The whole proposal after `message` (the pending one edited), not a change to it."""


def provider_for(settings: Settings) -> Provider:
    module, _, cls = PROVIDERS[settings.chat_provider].partition(":")
    made = getattr(importlib.import_module(module), cls)(settings)
    assert isinstance(made, Provider)
    return made
