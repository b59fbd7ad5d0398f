"""Schedules: 5-field cron expressions or presets, evaluated in the workflow's timezone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}
ONCE = "@once"  # a single run, as soon as the workflow is active: no recurring fire times


def schedule_error(expr: str) -> str | None:
    """Why `expr` is not a valid schedule, or None when it is."""
    if expr == ONCE or expr in PRESETS:
        return None
    if expr.startswith("@"):
        allowed = ", ".join([*PRESETS, ONCE])
        return f"unknown preset {expr!r}; use one of {allowed} or a 5-field cron expression"
    fields = expr.split()
    if len(fields) != 5:
        return f"a cron expression has 5 fields (minute hour day month weekday), got {len(fields)}"
    try:
        croniter(expr)
    except (CroniterBadCronError, CroniterBadDateError, ValueError, KeyError) as exc:
        return f"invalid cron expression: {exc}"
    return None


def timezone_error(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone {name!r}; use an IANA name such as UTC or Europe/Berlin"
    return None


def next_fire_times(
    expr: str | None, tz: str, after: datetime | None = None, count: int = 3
) -> list[datetime]:
    """The next `count` fire times after `after` (default now), in UTC."""
    if not expr or expr == ONCE:
        return []
    if after is not None:
        return _compute(expr, tz, after, count)
    now = datetime.now(UTC)
    key = (expr, tz, count)
    cached = _upcoming.get(key)
    # Until the first of them has passed, the upcoming fire times are what they were.
    if cached is None or cached[0] <= now:
        if len(_upcoming) >= _UPCOMING_MAX:
            _upcoming.clear()
        cached = _upcoming[key] = _compute(expr, tz, now, count)
    return list(cached)


# Listing pages compute this for every row; schedules repeat, and parsing cron is the cost.
_upcoming: dict[tuple[str, str, int], list[datetime]] = {}
_UPCOMING_MAX = 4096


def _compute(expr: str, tz: str, after: datetime, count: int) -> list[datetime]:
    it = croniter(PRESETS.get(expr, expr), after.astimezone(ZoneInfo(tz)))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]


def first_fire_after(expr: str | None, tz: str, after: datetime) -> datetime | None:
    """When a schedule next fires after `after` (for @once: at `after` itself)."""
    if not expr:
        return None
    if expr == ONCE:
        return after
    return _compute(expr, tz, after, 1)[0]


def due_fire_times(
    expr: str, tz: str, since: datetime, now: datetime, catchup: bool, limit: int = 100
) -> list[datetime]:
    """Fire times in [since, now] owed a run: all of them (oldest first, at most `limit`)
    with catch-up, otherwise only the latest."""
    if expr == ONCE:
        return [since] if since <= now else []
    zone, cron = ZoneInfo(tz), PRESETS.get(expr, expr)
    if not catchup:
        back = croniter(cron, (now + timedelta(seconds=1)).astimezone(zone))
        latest = back.get_prev(datetime).astimezone(UTC)
        if latest > now:
            latest = back.get_prev(datetime).astimezone(UTC)
        return [latest] if latest >= since else []
    it = croniter(cron, (since - timedelta(seconds=1)).astimezone(zone))
    due: list[datetime] = []
    while len(due) < limit:
        fire = it.get_next(datetime).astimezone(UTC)
        if fire > now:
            break
        due.append(fire)
    return due
