"""Typing into the editors key by key, at a person's speed and faster, on a large workflow.

The editors used to write their text back into themselves: a render that arrived after the
next key replaced the document with an older text, which fired the change handler again, and
the tab froze for good. These tests type as a person does (one key event at a time) and check
the page still answers and holds exactly what was typed, in the form and in what is saved.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.cli.conftest import Plait
from tests.ui.conftest import TIMEOUT_MS, create_workflow

TASKS = 120
# A 120-task editor page takes seconds to open on a busy machine; the default 60 s per test
# (server start included) is too tight. A frozen tab still fails: it never answers at all.
pytestmark = pytest.mark.timeout(180)
# An arbitrary line with the characters that CodeMirror treats specially (brackets, quotes).
TYPED = 'y = f("a", [1])'


def _big_workflow(plait: Plait, name: str) -> dict[str, Any]:
    tasks = [
        {"key": f"t{i:03}", "kind": "python", "code": f"print({i})\n",
         "depends_on": [f"t{i - 1:03}"] if i else []}
        for i in range(TASKS)
    ]  # fmt: skip
    return create_workflow(plait.http, {"name": name, "tasks": tasks})


def _editor_text(page: Page, index: int) -> str:
    # evaluate() answering at all is the first check: a frozen tab never returns.
    text: str = page.evaluate(
        "(i) => document.querySelectorAll('.cm-content')[i].cmTile.root.view.state.doc.toString()",
        index,
    )
    return text


def _type_at_end(page: Page, index: int, text: str, delay: float) -> None:
    page.locator(".cm-content").nth(index).click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text, delay=delay)


def _saved_version_2(plait: Plait, name: str) -> dict[str, Any]:
    """The workflow once the page's Save has reached the server (a 120-task page may take a
    while to send it on a busy machine)."""
    deadline = time.monotonic() + 60
    saved: dict[str, Any] = plait.http.get(f"/api/v1/workflows/{name}").json()
    while saved["current_version"] < 2:
        assert time.monotonic() < deadline, "the page never saved"
        time.sleep(0.2)
        saved = plait.http.get(f"/api/v1/workflows/{name}").json()
    return saved


def _still_answers(page: Page) -> None:
    """Another control takes a click and a key, and the page's own script runs."""
    key = page.locator("[data-task-index='1']").get_by_label("Task key")
    key.click()
    expect(key).to_be_focused()
    assert page.evaluate("1 + 1") == 2


@pytest.mark.parametrize(("delay", "name"), [(100, "typed-human"), (15, "typed-fast")])
def test_typing_key_by_key_in_a_task_code_keeps_the_page_responsive(
    admin_page: Page, plait: Plait, delay: float, name: str
) -> None:
    _big_workflow(plait, name)
    page = admin_page
    page.goto(f"/workflows/{name}?tab=edit")
    expect(page.locator(".cm-content")).to_have_count(TASKS, timeout=TIMEOUT_MS)

    _type_at_end(page, 0, "\n" + TYPED, delay)
    _type_at_end(page, 0, "\n" + TYPED, delay / 10)  # then a burst faster than any hand
    _still_answers(page)
    expected = f"print(0)\n\n{TYPED}\n{TYPED}"
    assert _editor_text(page, 0) == expected

    page.get_by_role("button", name="Save", exact=True).click()
    saved = _saved_version_2(plait, name)
    assert saved["tasks"][0]["code"] == expected
    assert [t["code"] for t in saved["tasks"][1:]] == [f"print({i})\n" for i in range(1, TASKS)]


def test_typing_fast_in_the_yaml_editor_keeps_what_was_typed(
    admin_page: Page, plait: Plait
) -> None:
    _big_workflow(plait, "typed-yaml")
    page = admin_page
    page.goto("/workflows/typed-yaml?tab=edit")
    expect(page.locator(".cm-content")).to_have_count(TASKS, timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="YAML", exact=True).click()
    expect(page.locator(".cm-content")).to_have_count(1)
    page.locator(".cm-content").click()
    page.keyboard.press("Control+Home")
    comment = "# edited as text, key by key\n"
    page.keyboard.type(comment, delay=15)
    assert page.evaluate("1 + 1") == 2
    assert _editor_text(page, 0).startswith(comment + "name: typed-yaml\n")

    page.get_by_role("tab", name="Form").click()  # the text parses back into the form
    expect(page.locator(".cm-content")).to_have_count(TASKS, timeout=TIMEOUT_MS)


def test_typing_fast_in_the_params_table_keeps_every_key(admin_page: Page, plait: Plait) -> None:
    create_workflow(plait.http, {"name": "typed-params", "tasks": [
        {"key": "a", "kind": "shell", "command": "true"}]})  # fmt: skip
    page = admin_page
    page.goto("/workflows/typed-params?tab=edit")
    page.get_by_role("button", name="+ Add parameter").click()
    row = page.locator("[data-param='0']")
    row.get_by_label("Param name").click()
    page.keyboard.type("learning_rate", delay=5)
    row.get_by_label("Param type").select_option("number")
    row.get_by_label("Default").click()
    page.keyboard.type("1.50", delay=5)  # a number as typed, not rewritten to "1.5"
    row.get_by_label("Choices").click()
    page.keyboard.type("[1.50, 2]", delay=5)
    expect(row.get_by_label("Param name")).to_have_value("learning_rate")
    expect(row.get_by_label("Default")).to_have_value("1.50")
    expect(row.get_by_label("Choices")).to_have_value("[1.50, 2]")

    page.get_by_role("button", name="Save", exact=True).click()
    saved = _saved_version_2(plait, "typed-params")
    param = saved["params"]["learning_rate"]
    assert (param["type"], param["default"], param["enum"]) == ("number", 1.5, [1.5, 2])
