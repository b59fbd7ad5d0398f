"""The docs stay true to the code: every setting is documented, every page is listed."""

from __future__ import annotations

import re
from pathlib import Path

from plait.settings import Settings

DOCS = Path(__file__).parent.parent / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [n for n in Settings.model_fields if f"`PLAIT_{n.upper()}`" not in text]
    assert missing == []


def _listed_in_readme() -> list[str]:
    """The pages the README's "Documentation" section links to, in order."""
    readme = (DOCS.parent / "README.md").read_text()
    section = readme.split("\n## Documentation\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"\]\((docs/[^)#]+\.md)\)", section)


def test_the_readme_lists_every_docs_page() -> None:
    pages = {f"docs/{p.name}" for p in DOCS.glob("*.md")}
    listed = _listed_in_readme()
    assert sorted(pages - set(listed)) == []
    assert [p for p in listed if not (DOCS.parent / p).is_file()] == []
