"""How the rules parser reads numbers and compares words (pure functions)."""

from __future__ import annotations

import pytest

from plait.chat.words import alike, split_name, tokens


@pytest.mark.parametrize(
    ("text", "number", "unit"),
    [
        ("200", 200, None),
        ("0.001", 0.001, None),
        ("1e-3", 0.001, None),
        ("1k", 1000, None),
        ("2.5 k", 2500, None),
        ("two hundred", 200, None),
        ("three hundred and fifty", 350, None),
        ("twenty-five", 25, None),
        ("a thousand", 1000, None),
        ("30%", 30, "%"),
        ("30 percent", 30, "%"),
        ("5 minutes", 5, "s:60"),
        ("90s", 90, "s:1"),
        ("2 hours", 2, "s:3600"),
    ],
)
def test_numbers(text: str, number: float, unit: str | None) -> None:
    [tok] = tokens(text)
    assert (tok.number, tok.unit) == (number, unit)


def test_the_other_one_is_not_a_number() -> None:
    assert [t.number for t in tokens("use the other one")] == [None, None, None, None]
    assert [t.text for t in tokens('csv path "/a b.csv", depth=5')] == [
        "csv", "path", "/a b.csv", "depth", "5"
    ]  # fmt: skip


def test_words_alike() -> None:
    assert alike("clasifier", "classifier") and alike("validating", "validation")
    assert alike("trees", "treees") and alike("training", "train")
    assert not alike("learning", "sklearn", typos=False)
    assert not alike("csv", "cvs")  # short words must be exact
    assert split_name("iris_classifier-v2") == ["iris", "classifier", "v2"]
    assert split_name("irisClassifier") == ["iris", "classifier"]
