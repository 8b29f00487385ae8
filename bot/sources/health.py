"""This module contains source health: one recorder per source and the board /status reads.

Every kind of source reports the same `SourceStatus` (see `bot.ports`): the generic poller
records each poll, and the chat adapters (Telegram, Discord) call `seen(post)` when they hand a
post to the pipeline and `failed(error)` when that did not work. Health lives in memory: it
describes this process since it started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta

from bot.model import Post, utcnow
from bot.ports import SourceStatus

Clock = Callable[[], datetime]


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


class SourceHealth:
    """The health of one source, updated as it works and fails."""

    def __init__(self, source_id: str, kind: str, *, clock: Clock = utcnow) -> None:
        self.source_id = source_id
        self.kind = kind
        self.ok = False
        self.last_ok: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.failures = 0  # consecutive
        self.posts = 0
        self.last_post: datetime | None = None
        self.backoff_until: datetime | None = None
        self._clock = clock

    def seen(self, post: Post | None = None) -> None:
        """An item was handed to the pipeline: the source works."""
        self.posts += 1
        self.last_post = self._clock()
        self.succeeded()

    def succeeded(self) -> None:
        """A poll worked (with or without new items)."""
        self.ok = True
        self.failures = 0
        self.last_ok = self._clock()
        self.backoff_until = None

    def failed(self, error: str, *, retry_in: float | None = None) -> None:
        """Something went wrong; a polled source says when it tries again."""
        self.ok = False
        self.failures += 1
        self.last_error = error
        self.last_error_at = self._clock()
        self.backoff_until = (self.last_error_at + timedelta(seconds=retry_in)
                              if retry_in is not None else None)

    def note(self, error: str) -> None:
        """A problem worth showing that does not make the source failing (a skipped post)."""
        self.last_error = error
        self.last_error_at = self._clock()

    def status(self) -> SourceStatus:
        return SourceStatus(
            kind=self.kind, ok=self.ok, last_ok=_iso(self.last_ok), last_error=self.last_error,
            last_error_at=_iso(self.last_error_at), failures=self.failures, posts=self.posts,
            last_post=_iso(self.last_post), backoff_until=_iso(self.backoff_until))

    def __repr__(self) -> str:
        return f"SourceHealth({self.source_id!r}, {self.status()!r})"


class HealthBoard(Mapping[str, SourceStatus]):
    """The health of every source this process watches, by source id (a read-only mapping of
    `SourceStatus` snapshots; `recorder` and `open` give the recorders to write to)."""

    def __init__(self, *, clock: Clock = utcnow) -> None:
        self._recorders: dict[str, SourceHealth] = {}
        self._clock = clock

    def recorder(self, source_id: str, kind: str) -> SourceHealth:
        """The recorder of a source, made on first use (what the chat adapters call)."""
        found = self._recorders.get(source_id)
        if found is None or found.kind != kind:
            return self.open(source_id, kind)
        return found

    def open(self, source_id: str, kind: str) -> SourceHealth:
        """A fresh recorder for a source (re)starting: nothing from its earlier life carries."""
        health = SourceHealth(source_id, kind, clock=self._clock)
        self._recorders[source_id] = health
        return health

    def drop(self, source_id: str, health: SourceHealth | None = None) -> None:
        """Forget a source (removed); with `health`, only if that is still its recorder."""
        if health is None or self._recorders.get(source_id) is health:
            self._recorders.pop(source_id, None)

    def retain(self, source_ids: Iterable[str]) -> None:
        """Forget every source not named (they were removed from the store)."""
        keep = set(source_ids)
        for source_id in [s for s in self._recorders if s not in keep]:
            del self._recorders[source_id]

    def __getitem__(self, source_id: str) -> SourceStatus:
        return self._recorders[source_id].status()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._recorders))

    def __len__(self) -> int:
        return len(self._recorders)
