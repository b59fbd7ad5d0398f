"""The docs stay true to the code: every setting is documented."""

from __future__ import annotations

from pathlib import Path

from plait.settings import Settings

DOCS = Path(__file__).parent.parent / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [n for n in Settings.model_fields if f"`PLAIT_{n.upper()}`" not in text]
    assert missing == []
