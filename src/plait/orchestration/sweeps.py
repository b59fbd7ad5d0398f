"""Sweeps: one run of a workflow per combination of params, as a group.

A grid is the cartesian product of each param's values, in the order the params and values
were given; a random search draws `n` combinations from a space of distributions with a
seeded generator, so the same seed gives the same combinations (the seed is stored). Each
combination is merged over the base `params` and checked against the workflow's params
schema before any run is made. The scheduler starts at most `max_parallel` runs of a sweep
at once and rolls its status up when they have ended (`plait.orchestration.groups`).
Functions add and flush; the caller owns the transaction and wakes the scheduler.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait import audit
from plait.auth.roles import Principal
from plait.db.models import Sweep, Workflow
from plait.errors import Conflict, FieldError, InvalidInput
from plait.events import outbox
from plait.orchestration import groups, runs
from plait.orchestration.params import resolve_params

MAX_COMBINATIONS = 1000  # made without an explicit max_runs
Combination = dict[str, Any]


def grid_count(grid: dict[str, list[Any]]) -> int:
    return math.prod(len(values) for values in grid.values())


def expand_grid(grid: dict[str, list[Any]], limit: int) -> list[Combination]:
    """The first `limit` combinations of the grid, the last param varying fastest."""
    product = itertools.product(*grid.values())
    return [dict(zip(grid, values, strict=True)) for values in itertools.islice(product, limit)]


def draw(space: dict[str, dict[str, Any]], n: int, seed: int) -> list[Combination]:
    """`n` combinations drawn from `space` by a generator seeded with `seed`."""
    rng = random.Random(seed)
    return [{name: _sample(rng, dist) for name, dist in space.items()} for _ in range(n)]


def _sample(rng: random.Random, dist: dict[str, Any]) -> Any:
    (kind, args), = dist.items()  # fmt: skip
    if kind == "choice":
        return rng.choice(args)
    if kind == "int":
        return rng.randint(int(args[0]), int(args[1]))
    if kind == "uniform":
        return rng.uniform(args[0], args[1])
    return math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))  # log_uniform


def space_problems(space: dict[str, dict[str, Any]]) -> Iterator[FieldError]:
    """What is wrong with each distribution of a random search's space."""
    for name, dist in space.items():
        loc = ("random", "space", name)
        if len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            yield FieldError(loc, f"give one of {', '.join(DISTRIBUTIONS)}", "distribution")
            continue
        (kind, args), = dist.items()  # fmt: skip
        if why := DISTRIBUTIONS[kind](args):
            yield FieldError((*loc, kind), why, "distribution")


def _bounds(args: Any, positive: bool = False, whole: bool = False) -> str:
    numbers = isinstance(args, list) and len(args) == 2
    if not numbers or not all(_number(a) and (not whole or float(a).is_integer()) for a in args):
        return f"give two {'whole ' if whole else ''}numbers [low, high]"
    if args[0] > args[1]:
        return "low is above high"
    if not math.isfinite(float(args[1]) - float(args[0])):
        return "the range is too wide to draw from"
    return "both must be above 0" if positive and args[0] <= 0 else ""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _choices(args: Any) -> str:
    return "" if isinstance(args, list) and args else "give a non-empty list of values"


# Each distribution's check of its arguments: what is wrong, or "".
DISTRIBUTIONS: dict[str, Callable[[Any], str]] = {
    "choice": _choices,
    "int": partial(_bounds, whole=True),
    "uniform": _bounds,
    "log_uniform": partial(_bounds, positive=True),
}


def combinations(
    kind: str, spec: dict[str, Any], max_runs: int | None, seed: int | None
) -> list[Combination]:
    """The sweep's combinations; InvalidInput when there are more than MAX_COMBINATIONS
    and no `max_runs` says how many to make."""
    if kind == "random" and (problems := list(space_problems(spec["space"]))):
        raise InvalidInput(problems)
    total = grid_count(spec) if kind == "grid" else int(spec["n"])
    if max_runs is None and total > MAX_COMBINATIONS:
        field = ("grid",) if kind == "grid" else ("random", "n")
        why = (
            f"the sweep has {total} combinations; a sweep makes at most {MAX_COMBINATIONS} "
            f"unless you say how many: give fewer values, or set max_runs to run the first "
            f"max_runs of them"
        )
        raise InvalidInput([FieldError(field, why, "too_many")], detail=why)
    limit = min(total, max_runs or total)
    if kind == "grid":
        return expand_grid(spec, limit)
    return draw(spec["space"], limit, seed if seed is not None else 0)


def check(wf: Workflow, base: dict[str, Any], combos: list[Combination], kind: str) -> None:
    """Every combination over `base` must suit the workflow's params schema: the first that
    does not is refused, naming its fields (where the sweep gave them) and the combination."""
    where = ("grid",) if kind == "grid" else ("random", "space")
    for number, combo in enumerate(combos, 1):
        try:
            resolve_params(wf.spec["params"], {**base, **combo})
        except InvalidInput as bad:
            said = f"combination {number} {json.dumps(combo)}"
            errors = [_swept(e, combo, where, said) for e in bad.errors]
            raise InvalidInput(
                errors, detail=f"{said}: {errors[0].field} {errors[0].msg}"
            ) from None


def _swept(error: FieldError, combo: Combination, where: tuple[str, ...], said: str) -> FieldError:
    name = error.loc[1] if len(error.loc) > 1 else None
    loc = (*where, *error.loc[1:]) if name in combo else error.loc
    return FieldError(loc, f"{error.msg} (in {said})", error.type)


async def create(
    session: AsyncSession, wf: Workflow, *, kind: str, spec: dict[str, Any],
    params: dict[str, Any], max_parallel: int, max_runs: int | None, seed: int | None,
    metric: str | None, direction: str, who: Principal, idempotency_key: str | None = None,
) -> tuple[Sweep, list[int]]:  # fmt: skip
    """The sweep and a queued run per combination, or InvalidInput before any is made.
    Returns it and its runs' ids, in combination order."""
    if kind == "random" and seed is None:
        seed = random.randrange(2**31)  # stored: the same draw can be made again
    combos = combinations(kind, spec, max_runs, seed)
    check(wf, params, combos, kind)
    sweep = Sweep(workflow_id=wf.id, kind=kind, spec={kind: spec, "params": params},
                  max_parallel=max_parallel, max_runs=max_runs, seed=seed, metric=metric,
                  direction=direction, status="running", created_by=who.id,
                  idempotency_key=idempotency_key)  # fmt: skip
    session.add(sweep)
    await session.flush()
    made = []
    for combo in combos:
        run = await runs.create_run(session, wf, params={**params, **combo}, trigger="sweep",
                                    who=who, description=f"sweep {sweep.id}")  # fmt: skip
        run.sweep_id = sweep.id
        made.append(run.id)
    await session.flush()
    audit.record(session, who, "sweep.create", "sweep", sweep.id, workflow=wf.name, kind=kind,
                 runs=len(made), seed=seed)  # fmt: skip
    outbox.record(session, "sweep.created", workflow_id=wf.id, sweep_id=sweep.id,
                  status=sweep.status, runs=len(made))  # fmt: skip
    return sweep, made


async def by_key(session: AsyncSession, workflow_id: int, key: str | None) -> Sweep | None:
    """The workflow's sweep made with this Idempotency-Key, if any."""
    if key is None:
        return None
    query = select(Sweep).where(Sweep.workflow_id == workflow_id, Sweep.idempotency_key == key)
    return (await session.execute(query)).scalar()


def swept_keys(sweep: Sweep) -> list[str]:
    """The params the sweep varies, in the order given."""
    spec = sweep.spec[sweep.kind]
    return list(spec if sweep.kind == "grid" else spec["space"])


async def get(session: AsyncSession, sweep_id: int, *, lock: bool = False) -> Sweep:
    found: Sweep = await groups.get(session, groups.SWEEP, sweep_id, lock=lock)
    return found


async def cancel(session: AsyncSession, sweep: Sweep, who: Principal) -> list[int]:
    """Cancel its unfinished runs (those running stop, the rest never start); the sweep
    ends `cancelled` once they have. Returns the runs to wake."""
    unfinished = await groups.unfinished_runs(session, groups.SWEEP, sweep.id)
    pending = [r for r in unfinished if not r.cancel_requested_at]
    if not pending:
        raise Conflict(f"sweep {sweep.id} has no unfinished runs; nothing to cancel")
    for run in pending:
        await runs.request_cancel(session, run, who)
    audit.record(session, who, "sweep.cancel", "sweep", sweep.id, runs=len(pending))
    return [r.id for r in pending]


def best(rows: list[dict[str, Any]], metric: str, direction: str) -> dict[str, Any] | None:
    """The row whose final `metric` is best in `direction` (the first of equals); rows
    without that metric are never best."""
    scored = [r for r in rows if isinstance(r["metrics"].get(metric), int | float)]
    if not scored:
        return None
    pick = max if direction == "max" else min
    return pick(scored, key=lambda r: r["metrics"][metric])
