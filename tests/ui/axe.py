"""axe-core (the engine behind Lighthouse's accessibility audit) in the browser tests.

The page loads the vendored axe from the server (under the page's own CSP, like any of its
scripts); a test fails on a serious or critical violation, listing rule, element and help.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from plait.ui import assets

AXE = assets.vendored("axe-core", "axe.min.js")
FAILING = ("serious", "critical")

# The violations (of the impacts above) axe finds in the document as it is now.
_RUN = """async (failing) => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.filter((v) => failing.includes(v.impact)).map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
  }));
}"""


def violations(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)
    found: list[dict[str, Any]] = page.evaluate(_RUN, list(FAILING))
    return found


def report(page: Page, where: str) -> list[str]:
    """One line per serious or critical violation on the page as it is now."""
    return [
        f"{where}: {v['impact']} {v['id']} at {v['targets']}: {v['help']}" for v in violations(page)
    ]


def assert_accessible(page: Page, where: str) -> None:
    """No serious or critical violation on the page as it is now."""
    found = report(page, where)
    assert not found, "\n".join(found)


class Audit:
    """Violations gathered over a tour of pages, so one run names them all."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.found: list[str] = []

    def check(self, where: str) -> None:
        self.found += report(self.page, where)

    def assert_clean(self) -> None:
        assert not self.found, "\n".join(self.found)
