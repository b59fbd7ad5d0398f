"""Schedules: 5-field cron expressions or presets, evaluated in the workflow's timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from plait.errors import did_you_mean

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
        presets = [*PRESETS, ONCE]
        hint = did_you_mean(expr, presets, cutoff=0.75)  # @yearly is not a typo of @daily
        hint = hint or f"; use one of {', '.join(presets)} or a 5-field cron expression"
        return f"unknown preset {expr!r}{hint}"
    fields = expr.split()
    if len(fields) != 5:
        return f"{_FIVE}; {expr!r} has {len(fields)}"
    try:
        croniter(expr)
    except (CroniterBadCronError, CroniterBadDateError, ValueError, KeyError) as exc:
        # croniter names neither the field nor the rule: find the field ourselves.
        for rule, text in zip(_FIELDS, fields, strict=True):
            if why := rule.error(text):
                return why
        return f"invalid cron expression {expr!r} ({exc}); {_FIVE}"
    return None


_FIVE = "the 5 fields of a cron expression are minute hour day-of-month month day-of-week"
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@dataclass(frozen=True)
class _Field:
    """One field of a cron expression: its name, range and the names its values may take."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i
    note: str = ""

    def error(self, text: str) -> str | None:
        """What is wrong with `text` as this field, in words (None: nothing found)."""
        for item in text.split(","):
            base, slash, step = item.partition("/")
            if slash and not (_number(step) and int(step) > 0):
                return f"{self.name} field {text!r}: the step after / must be a whole number > 0"
            if base == "*":
                continue
            for bound in base.split("-", 1):
                if why := self._value_error(text, bound):
                    return why
        return None

    def _value_error(self, text: str, value: str) -> str | None:
        where = f"{self.name} field {text!r}" + ("" if value == text else f": {value!r}")
        allowed = f"{self.low}-{self.high}{self.note}"
        if _number(value):
            if not self.low <= int(value) <= self.high:
                return f"{where} is out of range {allowed}"
            return None
        if value.lower() in self.names:
            return None
        named = f" or a name {self.names[0].upper()}-{self.names[-1].upper()}" if self.names else ""
        return f"{where} is not a number in {allowed}{named}"


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # "²".isdigit() too, and int() refuses it


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, tuple(_MONTHS)),
    _Field("day-of-week", 0, 7, tuple(_DAYS), " (0 and 7 are Sunday)"),
)


def timezone_error(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(name, available_timezones())
        return f"unknown timezone {name!r}" + (
            hint or "; use an IANA name such as UTC or Europe/Berlin"
        )
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
