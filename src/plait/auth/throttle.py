"""Failed logins, counted per username and per client address, in this server process.

Counted in memory, not in the database: a login attempt then costs no write, and a flood of
wrong passwords cannot fill a table. With several server processes each counts its own, so
the limit a guesser meets is the configured one times the number of processes (documented).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from plait.errors import TooManyRequests

# Keys remembered at most (oldest dropped first): a guesser cycling through made-up usernames
# or addresses must not grow the server's memory without bound.
MAX_KEYS = 100_000


@dataclass(frozen=True)
class Attempt:
    keys: tuple[str, str]
    at: float


class LoginThrottle:
    def __init__(self, per_user: int, per_address: int, window_seconds: float) -> None:
        self._limits = {"user": per_user, "addr": per_address}
        self._window = window_seconds
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def attempt(self, username: str, address: str) -> Attempt:
        """Count an attempt as failed until it succeeds, or refuse it (TooManyRequests).

        Counted before the password is checked, so many attempts sent at once cannot all
        pass the limit while their hashes are being verified.
        """
        now = time.monotonic()
        keys = (f"user:{username.casefold()}", f"addr:{address}")
        waits = [self._wait(key, now) for key in keys]
        if max(waits) > 0:
            raise TooManyRequests(
                "too many failed logins; try again later", retry_after=math.ceil(max(waits))
            )
        for key in keys:
            self._seen.setdefault(key, deque()).append(now)
            self._seen.move_to_end(key)
        while len(self._seen) > MAX_KEYS:
            self._seen.popitem(last=False)
        return Attempt(keys, now)

    def succeeded(self, attempt: Attempt) -> None:
        for key in attempt.keys:
            stamps = self._seen.get(key)
            if stamps is not None and attempt.at in stamps:
                stamps.remove(attempt.at)

    def _wait(self, key: str, now: float) -> float:
        """Seconds until `key` may try again (0: now)."""
        stamps = self._seen.get(key)
        if stamps is None:
            return 0.0
        while stamps and stamps[0] <= now - self._window:
            stamps.popleft()
        if not stamps:
            del self._seen[key]
            return 0.0
        limit = self._limits[key.split(":", 1)[0]]
        if len(stamps) < limit:
            return 0.0
        return stamps[-limit] + self._window - now
