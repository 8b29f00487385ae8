"""This module contains retry timing: the one Retry-After parser and the polling schedule.

`parse_retry_after` reads both forms RFC 9110 allows (delta-seconds and an HTTP-date) and is
the only place wirewatch reads that header. `Schedule` says how long a polled source waits:
its interval with jitter while it works, doubling with a cap while it fails, and never less
than the server's Retry-After.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bot.model import utcnow

MAX_RETRY_AFTER = 86_400.0  # a bogus header must not park a source for weeks
_DELTA_RE = re.compile(r"\d+(?:\.\d+)?")  # RFC: 1*DIGIT; a fraction is tolerated, a sign is not


def parse_retry_after(value: str | None, *, now: datetime | None = None,
                      cap: float = MAX_RETRY_AFTER) -> float | None:
    """Seconds to wait from a Retry-After header, or None when there is none or it is garbage.

    An HTTP-date in the past means "now" (0.0); any answer is capped at `cap` seconds."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if _DELTA_RE.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:  # some Python versions return None for an unparsable date
            return None
        if when.tzinfo is None:  # "-0000" or a date without a zone: HTTP dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or utcnow())).total_seconds()
    return min(max(seconds, 0.0), cap)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a polled source polls next.

    While it works it waits `interval` give or take `jitter` (a fraction: 0.1 is ±10 %), so
    sources started together drift apart. After `failures` consecutive failures it waits
    `interval * 2**failures` (jittered the same way), at most `max_backoff`; a server's
    Retry-After is a floor that may exceed the cap (it is capped by the parser instead). The
    first poll comes after a random share of `start_spread` seconds.
    """

    interval: float = 60.0
    jitter: float = 0.1
    max_backoff: float = 900.0
    start_spread: float | None = None  # None: jitter * interval

    def __post_init__(self) -> None:
        if self.interval <= 0 or not 0 <= self.jitter < 1 or self.max_backoff <= 0:
            raise ValueError(f"bad schedule: interval {self.interval}, jitter {self.jitter}, "
                             f"max_backoff {self.max_backoff}")

    def first(self, rng: random.Random | None = None) -> float:
        spread = self.jitter * self.interval if self.start_spread is None else self.start_spread
        return _uniform(rng, 0.0, spread) if spread > 0 else 0.0

    def next(self, failures: int = 0, retry_after: float | None = None,
             rng: random.Random | None = None) -> float:
        """Seconds until the next poll after `failures` consecutive failures (0: it worked)."""
        if failures <= 0:
            delay = self.interval
        else:
            # 2**failures overflows float past ~1000 failures: a year of failing is still a cap.
            delay = self.max_backoff if failures > 60 else min(
                self.max_backoff, self.interval * 2.0 ** failures)
        if self.jitter:
            delay *= _uniform(rng, 1.0 - self.jitter, 1.0 + self.jitter)
            if failures > 0:
                delay = min(delay, self.max_backoff)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


def _uniform(rng: random.Random | None, low: float, high: float) -> float:
    return rng.uniform(low, high) if rng is not None else random.uniform(low, high)
