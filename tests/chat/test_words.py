"""How the rules parser reads numbers and compares words (pure functions)."""

from __future__ import annotations

import random
import string
import time

import pytest

from plait.chat.catalog import MAX_ENTRIES, Catalog, Target
from plait.chat.parser import parse
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


def test_a_long_message_against_a_big_catalog_is_read_quickly() -> None:
    """Bounded work: the longest message against the most workflows read in well under the
    seconds it took before words were compared with a cache and a length check."""
    rng = random.Random(1)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10)))
             for _ in range(2000)]  # fmt: skip
    catalog = Catalog()
    for _ in range(MAX_ENTRIES):
        name = "-".join(rng.sample(words, 3))
        params = {f"p_{w}": {"type": "integer", "description": " ".join(rng.sample(words, 5))}
                  for w in rng.sample(words, 8)}  # fmt: skip
        catalog.workflows[name] = Target("workflow", name, " ".join(rng.sample(words, 12)), params)
    message = " ".join(rng.sample(words, 400))[:2000]
    started = time.perf_counter()
    draft = parse(message, catalog)
    assert time.perf_counter() - started < 5
    assert draft.notes == ["I read the first 100 words only."]
