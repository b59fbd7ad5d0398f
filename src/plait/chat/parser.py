"""The rules parser: the embedded default provider, no network.

A message is read in four passes over its tokens, each marking what it used: the workflow
or template it names (its name's words, typos forgiven; else words of its description), the
dataset ("dataset flowers v2", "use version 3"), the params (a param's name, a synonym or a
word of its description next to a value: "200 trees", "max depth of 5", "lr=1e-3"), and
what is left, which is said back as not understood. Nothing named and nothing pending is a
question, never a guess.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from dataclasses import dataclass
from typing import Any

from plait.chat.catalog import Catalog, Target
from plait.chat.draft import Draft, current_draft
from plait.chat.words import SECONDS, Token, alike, split_name, stem, tokens

SYNONYMS: dict[str, tuple[str, ...]] = {
    "n_estimators": ("trees", "tree", "estimators", "estimator", "number of trees", "num trees",
                     "n trees", "boosting stages", "stages", "rounds"),
    "max_depth": ("depth", "max depth", "maximum depth", "tree depth"),
    "learning_rate": ("learning rate", "lr", "eta", "step size"),
    "epochs": ("epochs", "epoch", "passes"),
    "batch_size": ("batch size", "batches of", "batch"),
    "test_size": ("test size", "test split", "split", "test fraction", "holdout", "hold out",
                  "held out", "test share", "test set", "validation split"),
    "seed": ("seed", "random seed", "random state"),
    "subsample": ("subsample", "sample fraction", "row sample"),
    "max_null_fraction": ("null fraction", "nulls", "empty cells", "null share"),
    "timeout_seconds": ("timeout", "time limit"),
}  # fmt: skip
# Other names people give the same param: a schema's `lr` takes the phrases of learning_rate.
ALIASES = {"lr": "learning_rate", "num_epochs": "epochs", "n_epochs": "epochs",
           "random_state": "seed", "random_seed": "seed", "num_trees": "n_estimators",
           "n_trees": "n_estimators", "depth": "max_depth", "timeout": "timeout_seconds",
           "split": "test_size", "test_split": "test_size", "bs": "batch_size"}  # fmt: skip
CONFIRM = {"yes", "y", "yes please", "yes run it", "run it", "go", "go ahead", "confirm",
           "do it", "start it", "launch it", "ok", "okay", "ok run it", "sure", "yep",
           "run", "start", "yes go", "go for it", "please run it", "yes do it"}  # fmt: skip
RESET = {"cancel", "start over", "reset", "forget it", "never mind", "nevermind", "stop"}
CONNECTORS = {"to", "of", "is", "at", "as", "be", "equal", "equals", "=>", "->", "now", "about",
              "around", "with", "by", "set"}  # fmt: skip
STOP = {
    "a", "an", "the", "with", "and", "on", "for", "to", "of", "please", "run", "runs", "train",
    "training", "use", "using", "used", "set", "make", "it", "at", "in", "by", "me", "can", "you",
    "i", "want", "would", "like", "start", "launch", "kick", "off", "execute", "change", "model",
    "workflow", "template", "dataset", "data", "version", "from", "that", "this", "then", "now",
    "instead", "but", "so", "is", "be", "are", "its", "my", "our", "let's", "lets", "let", "do",
    "could", "should", "just", "also", "new", "one", "other", "another", "some", "as", "up",
    "go", "get", "give", "try", "again", "no", "yes", "ok", "okay", "hey", "hi", "hello",
    "thanks", "thank", "put", "have", "has", "need", "trigger", "kick-off",
    "same", "all", "value", "values", "param", "params", "parameter", "parameters", "equal",
    "size", "number", "num", "max", "maximum", "min", "minimum", "only", "than", "more", "less",
    "we", "us", "what", "which", "via", "into", "over", "under", "against", "each", "per",
    "different", "rather", "pls", "plz", "&", "+", "-", "\u2014", "\u2013", "/", "'s",
}  # fmt: skip
GENERIC = {"train", "model", "data", "run", "job", "pipeline", "workflow", "task", "test",
           "the", "a", "new", "my", "dataset", "template"}  # fmt: skip
_VERSION = re.compile(r"^v(\d+)$")
_AT_VERSION = re.compile(r"^([A-Za-z][\w-]*)@(\d+)$")
MAX_LISTED = 20
MAX_TOKENS = 100  # what a request needs, and what keeps reading it quick


@dataclass
class _Occurrence:
    start: int
    end: int  # token indexes, end exclusive
    param: str


class RulesProvider:
    """The embedded default: no network, the same answer for the same words."""

    name = "rules"

    def __init__(self, settings: object = None) -> None:
        del settings  # nothing to configure

    async def propose(
        self,
        message: str,
        history: list[dict[str, Any]],
        catalog: Catalog,
        proposal: dict[str, Any] | None,
        alternatives: list[tuple[str, str]],
    ) -> Draft:
        # In a thread: a long message against a big catalog takes a moment of CPU.
        return await asyncio.to_thread(parse, message, catalog, proposal, alternatives)


def parse(
    message: str,
    catalog: Catalog,
    proposal: dict[str, Any] | None = None,
    alternatives: list[tuple[str, str]] | None = None,
) -> Draft:
    said = " ".join(re.sub(r"[^\w\s']", " ", message.lower()).split())
    current = current_draft(proposal)
    if said in CONFIRM:
        current.intent = "confirm"
        return current
    if said in RESET:
        return Draft(intent="reset")
    toks = tokens(message)
    if len(toks) > MAX_TOKENS:
        toks = toks[:MAX_TOKENS]
        current.notes.append(f"I read the first {MAX_TOKENS} words only.")
    draft = _target(toks, catalog, current, alternatives or [])
    target = catalog.get(draft.kind, draft.name) if draft.kind and draft.name else None
    _dataset(toks, catalog, draft)
    if target is not None:
        _params(toks, target, draft)
    draft.not_understood += _leftovers(toks, target)
    return draft


# --- the workflow or template -----------------------------------------------------------


def _words(toks: list[Token]) -> list[tuple[int, str]]:
    """(token index, word) for each word of each unused token, names split on - and _."""
    return [(i, w) for i, t in enumerate(toks) if not t.used and t.number is None
            for w in split_name(t.text)]  # fmt: skip


def _name_match(toks: list[Token], target: Target) -> tuple[float, list[int], bool]:
    """Share of the name's words the message has, the tokens that have them, and whether one
    of them is more than a generic word ("train", "model"). Typos are forgiven in a whole
    name only: one misspelt word of a name is too weak ("learning" is not "sklearn")."""
    words = list(enumerate(_words(toks)))  # (place, (token index, word))
    parts = split_name(target.name)
    taken: list[int] = []
    specific = False
    for part in parts:
        hit = next((n for n, (_, w) in words if n not in taken and alike(w, part)), None)
        if hit is not None:
            taken.append(hit)
            exact = alike(words[hit][1][1], part, typos=False)
            specific = specific or (stem(part) not in {stem(g) for g in GENERIC} and exact)
    share = len(taken) / len(parts) if parts else 0.0
    return share, sorted({words[n][1][0] for n in taken}), specific


def _description_hits(toks: list[Token], target: Target) -> list[int]:
    known = {stem(w) for w in split_name(target.description) if len(w) >= 4 and w not in STOP
             and stem(w) not in GENERIC}  # fmt: skip
    return sorted({i for i, w in _words(toks) if w not in STOP and stem(w) in known})


def _target(
    toks: list[Token], catalog: Catalog, current: Draft, alternatives: list[tuple[str, str]]
) -> Draft:
    words = {w for _, w in _words(toks)}
    pool = catalog.targets()
    if "template" in words or "templates" in words:
        pool = [t for t in pool if t.kind == "template"]
    scored = []
    for t in pool:
        share, found, specific = _name_match(toks, t)
        # With a proposal pending, only a whole name switches to another target.
        if share == 1.0 or (share >= 0.5 and specific and current.name is None):
            scored.append((share, len(split_name(t.name)), t.kind == "workflow", t, found))
    if scored:
        best = max(s[:3] for s in scored)
        top = [s for s in scored if s[:3] == best]
        others: list[tuple[str, str]] = [(s[3].kind, s[3].name) for s in scored if s[:3] != best]
        if len(top) == 1:
            return _switch(current, top[0][3], top[0][4], toks, others)
        names = [_label(s[3]) for s in top]
        current.questions.append(f"Which one do you mean: {_or(names)}?")
        current.alternatives = [(s[3].kind, s[3].name) for s in top]
        return current
    if words & {"other", "another", "different"} and current.name:
        return _other(current, catalog, alternatives)
    hits = [(len(h), t, h) for t in pool if len(h := _description_hits(toks, t)) >= 2]
    if hits and current.name is None:
        most = max(h[0] for h in hits)
        top_hits = [h for h in hits if h[0] == most]
        if len(top_hits) == 1:
            return _switch(current, top_hits[0][1], top_hits[0][2], toks, [])
        current.questions.append(f"Which one do you mean: {_or([_label(h[1]) for h in top_hits])}?")
        current.alternatives = [(h[1].kind, h[1].name) for h in top_hits]
        return current
    if current.name is None:
        current.questions.append(which_question(catalog))
    return current


def which_question(catalog: Catalog) -> str:
    flows = sorted(catalog.workflows)[:MAX_LISTED]
    out = f"Which workflow? I know: {', '.join(flows) or 'no workflows yet'}"
    if catalog.templates:
        out += f"; and the templates: {', '.join(sorted(catalog.templates)[:MAX_LISTED])}"
    return out + "."


def _label(t: Target) -> str:
    return f"the {t.kind} {t.name}"


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _switch(
    current: Draft, target: Target, used: list[int], toks: list[Token],
    others: list[tuple[str, str]],
) -> Draft:  # fmt: skip
    for i in used:
        toks[i].used = True
    previous = (current.kind, current.name)
    current.alternatives = others or ([previous] if previous[1] else [])  # type: ignore[list-item]
    if previous == (target.kind, target.name):
        return current
    kept = {k: v for k, v in current.params.items() if k in target.params}
    dropped = sorted(set(current.params) - set(kept))
    if dropped:
        current.notes.append(f"{target.name} takes no {', '.join(dropped)}: left out.")
    current.kind, current.name, current.params = target.kind, target.name, kept
    return current


def _other(current: Draft, catalog: Catalog, alternatives: list[tuple[str, str]]) -> Draft:
    here = (current.kind, current.name)
    left = [a for a in alternatives if a != here and catalog.get(*a) is not None]
    if len(left) == 1:
        target = catalog.get(*left[0])
        assert target is not None
        return _switch(current, target, [], [], [here])  # type: ignore[list-item]
    choices = left or [(t.kind, t.name) for t in catalog.targets() if (t.kind, t.name) != here]
    current.questions.append(
        f"Which other one? {_or([f'the {k} {n}' for k, n in choices[:MAX_LISTED]])}?"
    )
    return current


# --- the dataset ------------------------------------------------------------------------


def _dataset(toks: list[Token], catalog: Catalog, draft: Draft) -> None:
    found, version = _version(toks)
    name = found or _named_dataset(toks, catalog) or _known_dataset(toks, catalog)
    if name is not None:
        name = next((d for d in catalog.datasets if d.lower() == name.lower()), name)
    if name is None and version is None:
        return
    before = draft.dataset or {}
    if name is not None and name != before.get("name"):
        draft.dataset = {"name": name, "version": version}
    else:
        draft.dataset = {"name": before.get("name"), "version": version or before.get("version")}


def _version(toks: list[Token]) -> tuple[str | None, int | None]:
    """ "flowers@2" (a name and a version), "v2" or "version 2"."""
    name: str | None = None
    version: int | None = None
    for i, tok in enumerate(toks):
        if tok.used:
            continue
        if m := _AT_VERSION.match(tok.text):
            name, version, tok.used = m.group(1), int(m.group(2)), True
        elif m := _VERSION.match(tok.word):
            version, tok.used = int(m.group(1)), True
        elif tok.word == "version" and i + 1 < len(toks) and _whole(toks[i + 1]):
            version = int(toks[i + 1].number or 0)
            tok.used = toks[i + 1].used = True
    return name, version


def _named_dataset(toks: list[Token], catalog: Catalog) -> str | None:
    """The word after "dataset" ("dataset flowers") or before it ("the flowers dataset"):
    a known name first, then one close to a known name, then the word after."""
    name = None
    known = [d.lower() for d in catalog.datasets]
    for i, tok in enumerate(toks):
        data_set = tok.word == "data" and i + 1 < len(toks) and toks[i + 1].word == "set"
        if tok.used or not (tok.word in ("dataset", "datasets") or data_set):
            continue
        nxt = i + 2 if data_set else i + 1
        while nxt < len(toks) and toks[nxt].word in ("the", "named", "called"):
            nxt += 1
        near = [toks[j] for j in (nxt, i - 1) if 0 <= j < len(toks)]
        near = [t for t in near if not t.used and t.number is None and t.word not in STOP]
        pick = next((t for t in near if t.word in known), None) or next(
            (t for t in near if difflib.get_close_matches(t.word, known, n=1, cutoff=0.6)), None
        ) or (near[0] if near else None)  # fmt: skip
        if pick is not None:
            name, pick.used, tok.used = pick.text, True, True
    return name


def _known_dataset(toks: list[Token], catalog: Catalog) -> str | None:
    """A word that is a dataset's name ("on flowers")."""
    for tok in toks:
        if tok.used or tok.number is not None:
            continue
        found = next((d for d in catalog.datasets if tok.word == d.lower()), None)
        if found is not None:
            tok.used = True
            return found
    return None


def _whole(tok: Token) -> bool:
    return tok.number is not None and tok.unit is None and float(tok.number).is_integer()


# --- the params -------------------------------------------------------------------------


def _phrases(schema: dict[str, Any]) -> list[tuple[tuple[str, ...], str, int]]:
    """(words, param, strength) for every phrase that names a param; stronger first, then
    longer. Description words count only when one param alone has them."""
    out: list[tuple[tuple[str, ...], str, int]] = []
    described: dict[str, set[str]] = {}
    for name, spec in schema.items():
        canonical = ALIASES.get(name, name)
        out.append((tuple(split_name(name)), name, 3))
        out.append(((name.lower(),), name, 3))
        out += [(tuple(p.split()), name, 2) for p in SYNONYMS.get(canonical, ())]
        for word in split_name(str(spec.get("description", ""))):
            if len(word) >= 4 and word not in STOP:
                described.setdefault(word, set()).add(name)
    out += [((w,), next(iter(ps)), 1) for w, ps in described.items() if len(ps) == 1]
    return sorted(out, key=lambda p: (-p[2], -len(p[0])))


def _phrase_at(toks: list[Token], i: int, words: tuple[str, ...]) -> bool:
    if i + len(words) > len(toks):
        return False
    for k, w in enumerate(words):
        tok = toks[i + k]
        if tok.used or tok.number is not None:
            return False
        if not (tok.word == w or alike(tok.word, w) or tok.word.replace("-", "_") == w):
            return False
    return True


def _occurrences(toks: list[Token], schema: dict[str, Any]) -> list[_Occurrence]:
    phrases = _phrases(schema)
    found: list[_Occurrence] = []
    i = 0
    while i < len(toks):
        hit = next((p for p in phrases if _phrase_at(toks, i, p[0])), None)
        if hit is None:
            i += 1
            continue
        found.append(_Occurrence(i, i + len(hit[0]), hit[1]))
        i += len(hit[0])
    return found


def _params(toks: list[Token], target: Target, draft: Draft) -> None:
    from plait.chat.proposal import dataset_params  # the one rule of which params take it

    skip = set(dataset_params(target.params))
    for occ in _occurrences(toks, target.params):
        if occ.param in skip:
            continue
        spec = target.params[occ.param]
        at = _value_at(toks, occ, spec)
        if at is None:
            continue
        value = _convert(toks[at], occ.param, spec)
        if value is None:
            continue
        for k in (*range(occ.start, occ.end), at):
            toks[k].used = True
        draft.params[occ.param] = value


def _fits(tok: Token, spec: dict[str, Any]) -> bool:
    if tok.used:
        return False
    kind = spec.get("type", "string")
    if spec.get("enum") is not None:
        return any(str(e).lower() == tok.word for e in spec["enum"]) or (
            tok.number is not None and any(e == tok.number for e in spec["enum"])
        )
    if kind in ("integer", "number"):
        return tok.number is not None
    if kind == "boolean":
        return tok.word in _BOOLEAN
    if kind == "string":
        return tok.quoted or (tok.word not in STOP and tok.word not in CONNECTORS)
    return tok.quoted


def _value_at(toks: list[Token], occ: _Occurrence, spec: dict[str, Any]) -> int | None:
    """The token holding the value: after a connector ("depth of 5", "trees to 300"), else
    the number just before ("200 trees"), else the token just after ("depth 5")."""
    k = occ.end
    while k < len(toks) and toks[k].word in CONNECTORS and not toks[k].used:
        k += 1
    if k > occ.end and k < len(toks) and _fits(toks[k], spec):
        return k
    before = occ.start - 1
    kind = spec.get("type", "string")
    numeric_or_enum = kind in ("integer", "number") or spec.get("enum") is not None
    if before >= 0 and numeric_or_enum and _fits(toks[before], spec):
        return before
    if (
        before >= 1
        and numeric_or_enum
        and _fits(toks[before - 1], spec)
        and (
            toks[before].number is None and toks[before].word not in STOP and not toks[before].used
        )
    ):
        return before - 1  # "200 blue trees": the word between is said back
    if occ.end < len(toks) and _fits(toks[occ.end], spec):
        return occ.end
    return None


_BOOLEAN = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _convert(tok: Token, name: str, spec: dict[str, Any]) -> Any:
    kind = spec.get("type", "string")
    if spec.get("enum") is not None:
        return next((e for e in spec["enum"] if str(e).lower() == tok.word or e == tok.number),
                    None)  # fmt: skip
    if kind == "boolean":
        return _BOOLEAN.get(tok.word)
    if kind == "string":
        return tok.text
    if tok.number is None:
        return None
    value = tok.number
    if tok.unit == "%":
        maximum = spec.get("maximum")
        value = value / 100 if maximum is not None and maximum <= 1 else value
    elif tok.unit and tok.unit.startswith("s:"):
        value = value * int(tok.unit[2:]) / _param_unit(name, spec)
    if float(value).is_integer() and (kind == "integer" or re.fullmatch(r"[-+]?\d+", tok.word)):
        return int(value)
    return value


def _param_unit(name: str, spec: dict[str, Any]) -> int:
    """Seconds in one unit of a duration param (from its name, else its description)."""
    words = split_name(name) + split_name(str(spec.get("description", "")))
    for word in words:
        if word in SECONDS and len(word) > 1:
            return SECONDS[word]
    return 1


# --- what is left -----------------------------------------------------------------------


def _leftovers(toks: list[Token], target: Target | None) -> list[str]:
    known: set[str] = set()
    if target is not None:
        known = {stem(w) for w in split_name(target.description)}
        for spec in target.params.values():
            known |= {stem(w) for w in split_name(str(spec.get("description", "")))}
    runs: list[list[Token]] = []
    for i, tok in enumerate(toks):
        content = (
            not tok.used
            and tok.word not in STOP
            and (tok.number is not None or stem(tok.word) not in known)
        )
        if content and re.search(r"\w", tok.word):
            if runs and i > 0 and runs[-1][-1] is toks[i - 1]:
                runs[-1].append(tok)
            else:
                runs.append([tok])
    return [" ".join(t.text for t in run)[:100] for run in runs][:MAX_LISTED]
