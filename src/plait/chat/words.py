"""Words of a message: tokens with their place, numbers written in words ("two hundred"),
with suffixes ("1k") and units ("30%", "5 minutes"), and a loose comparison of words that
forgives typos and endings ("clasifier", "validating")."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
# "the other one", "this one": a pronoun, not a number.
_NOT_NUMBER_AFTER = {"other", "this", "that", "the", "which", "any", "each", "another"}
SECONDS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip
PERCENT = {"%", "percent", "pct"}
_NUMBER = re.compile(
    r"^(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?)"
    r"(?P<suffix>k)?(?P<unit>%|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)?$"
)
_TOKEN = re.compile(r"\"[^\"]*\"|'[^']*'|[^\s,;:=()!?]+")


@dataclass
class Token:
    text: str  # as written (quotes removed)
    word: str  # lower case
    start: int
    end: int
    number: float | None = None
    unit: str | None = None  # "%", or a time unit's seconds as "s:<n>"
    quoted: bool = False
    used: bool = False


def tokens(message: str) -> list[Token]:
    """The message's tokens, numbers read (words, suffixes and units joined to them)."""
    out: list[Token] = []
    for m in _TOKEN.finditer(message):
        raw = m.group()
        quoted = raw[:1] in "\"'" and len(raw) >= 2 and raw[-1] == raw[0]
        text = raw[1:-1] if quoted else raw.rstrip(".")
        if not text and not quoted:
            continue
        out.append(Token(text, text.lower(), m.start(), m.end(), quoted=quoted))
    for tok in out:
        if not tok.quoted:
            _read_number(tok)
    return _join_units(_join_words(out))


def _read_number(tok: Token) -> None:
    m = _NUMBER.match(tok.word)
    if not m:
        return
    value = float(m.group("num"))
    if m.group("suffix"):
        value *= 1000
    tok.number = value
    unit = m.group("unit")
    if unit == "%":
        tok.unit = "%"
    elif unit:
        tok.unit = f"s:{SECONDS[unit]}"


def _join_words(toks: list[Token]) -> list[Token]:
    """Runs of number words ("two hundred and fifty") as one number token."""
    out: list[Token] = []
    i = 0
    while i < len(toks):
        j, value = _word_number(toks, i)
        if j > i and not (out and out[-1].word in _NOT_NUMBER_AFTER and toks[i].word == "one"):
            first, last = toks[i], toks[j - 1]
            out.append(Token(" ".join(t.text for t in toks[i:j]), " ".join(t.word for t in
                             toks[i:j]), first.start, last.end, number=float(value)))  # fmt: skip
            i = j
        else:
            out.append(toks[i])
            i += 1
    return out


def _word_number(toks: list[Token], i: int) -> tuple[int, int]:
    """Where a run of number words from `i` ends, and its value (i, 0 when none)."""
    total, current, j, seen = 0, 0, i, False
    while j < len(toks):
        parts = toks[j].word.split("-")
        if toks[j].word == "a" and not seen and j + 1 < len(toks) and toks[j + 1].word in _SCALES:
            current, j, seen = 1, j + 1, True
            continue
        if toks[j].word == "and" and seen and j + 1 < len(toks) and toks[j + 1].word in _UNITS:
            j += 1
            continue
        if all(p in _UNITS for p in parts):
            current += sum(_UNITS[p] for p in parts)
        elif toks[j].word == "hundred" and seen:
            current *= 100
        elif toks[j].word in ("thousand", "million") and seen:
            total += current * _SCALES[toks[j].word]
            current = 0
        else:
            break
        seen, j = True, j + 1
    return (j, total + current) if seen else (i, 0)


def _join_units(toks: list[Token]) -> list[Token]:
    """ "30 percent", "5 minutes", "2 k": the unit word joined to its number."""
    out: list[Token] = []
    for tok in toks:
        prev = out[-1] if out else None
        if prev is not None and prev.number is not None and prev.unit is None:
            if tok.word in PERCENT:
                prev.unit, prev.end = "%", tok.end
                continue
            if tok.word in SECONDS and len(tok.word) > 1:
                prev.unit, prev.end = f"s:{SECONDS[tok.word]}", tok.end
                continue
            if tok.word in ("k", "thousand"):
                prev.number, prev.end = prev.number * 1000, tok.end
                continue
        out.append(tok)
    return out


_ENDINGS = ("ations", "ation", "ions", "ion", "ings", "ing", "ers", "er", "ences", "ence",
            "ances", "ance", "ates", "ate", "ed", "es", "s", "e")  # fmt: skip


@lru_cache(maxsize=1 << 14)
def stem(word: str) -> str:
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


@lru_cache(maxsize=1 << 16)
def alike(a: str, b: str, typos: bool = True) -> bool:
    """The same word, give or take an ending or (`typos`) a typo; short words must be
    exact."""
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    if min(len(a), len(b)) < 4:
        return False
    sa, sb = stem(a), stem(b)
    if sa == sb:
        return True
    if not typos or a[0] != b[0]:  # a typo in the first letter is not forgiven
        return False
    return _ratio(a, b) >= 0.8 or (min(len(sa), len(sb)) >= 4 and _ratio(sa, sb) >= 0.8)


def _ratio(a: str, b: str) -> float:
    if 2 * min(len(a), len(b)) < 0.8 * (len(a) + len(b)):
        return 0.0  # too different in length to be 0.8 alike
    matcher = difflib.SequenceMatcher(None, a, b)
    return matcher.ratio() if matcher.quick_ratio() >= 0.8 else 0.0


@lru_cache(maxsize=1 << 12)
def _split(name: str) -> tuple[str, ...]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return tuple(p for p in re.split(r"[-_\s./]+", spaced.lower()) if p)


def split_name(name: str) -> list[str]:
    """ "iris-classifier", "iris_classifier", "irisClassifier" -> ["iris", "classifier"]."""
    return list(_split(name))
