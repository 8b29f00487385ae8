"""This module contains a circuit breaker that rests a failing translation provider.

After `failures` consecutive failures the breaker opens and `allow()` says no for `cooldown`
seconds; then it half-opens: one trial call goes through, and its verdict closes the
breaker or opens it for another cooldown. It is used from the event loop thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Counts consecutive failures of one provider and decides whether to try it."""

    def __init__(
        self,
        failures: int,
        cooldown: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if failures < 1 or cooldown <= 0:
            raise ValueError("failures must be >= 1 and cooldown > 0")
        self.threshold = failures
        self.cooldown = cooldown
        self._clock = clock
        self._wall_clock = wall_clock
        self.failures = 0  # consecutive
        self.last_reason: str | None = None
        self._open_until: float | None = None  # monotonic
        self._trial = False  # a half-open trial call is in flight

    @property
    def state(self) -> State:
        if self._open_until is None:
            return "closed"
        if self._trial or self._clock() >= self._open_until:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a call go to the provider now? A True in half-open state is the one trial."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.last_reason = None
        self._open_until = None
        self._trial = False

    def failure(self, reason: str) -> bool:
        """Record a failed call; return True if this (re)opened the breaker."""
        self.failures += 1
        self.last_reason = reason
        if self._trial or self.failures >= self.threshold:
            self._open_until = self._clock() + self.cooldown
            self._trial = False
            return True
        return False

    def release(self) -> None:
        """A call allowed by `allow()` ended without a verdict (cancelled, or not the
        provider's fault): let the next caller make the trial."""
        self._trial = False

    def retry_at(self) -> datetime | None:
        """When an open breaker lets the next trial through (UTC); None when not open."""
        if self.state != "open":
            return None
        assert self._open_until is not None
        return datetime.fromtimestamp(self._wall_clock() + (self._open_until - self._clock()), UTC)

    def describe(self) -> str:
        """What an editor reads in /status and in an alert's note: 'ok', 'down, trying again
        now' or 'down, retrying at 14:36 UTC'. The failure count and reason are in `detail()`."""
        state = self.state
        if state == "closed":
            return "ok"
        retry = self.retry_at()
        return "down, trying again now" if retry is None else f"down, retrying at {retry:%H:%M} UTC"

    def detail(self) -> str:
        """The same for the logs: state, the exact time and the last failures."""
        state = self.state
        if state == "closed":
            return "closed"
        why = f"{self.failures} failure{'s' if self.failures != 1 else ''}: {self.last_reason}"
        retry = self.retry_at()
        return f"half-open ({why})" if retry is None else f"open until {retry:%H:%M:%S} UTC ({why})"
