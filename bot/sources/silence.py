"""This module contains the silence watch: sources gone quiet or failing, said once to rooms.

Every kind of source (Telegram, Discord, t.me/s, feeds) reports to the `HealthBoard`. The
watch learns each source's usual gap between posts from its own history: the dates of its
stored posts when the process starts (one query), then each new post the board counts. A
source is *silent* when nothing came for more than `factor` × its median gap and at least
`min_silence` (4× and 1 h by default; it needs `min_gaps` gaps to know what is usual), and
*failing* after `failing_after` consecutive failed polls (it keeps being polled, with backoff).

`check()` returns each change of state once: into silent or failing, and back to ok. The
supervisor says each change in the rooms that follow the source: those with a subscription
naming `source:<id>`, or every room when none names it (a source nobody singled out concerns
everyone). Notices go to the platform directly (`Platform.send`, best effort): they are about
the service, not posts, so they are not stored, searched or retried through the outbox.
State lives in memory, so a restart may say a standing silence once more.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.model import Alert, Analysis, Post, Room, utcnow
from bot.ports import SourceStatus, Store

log = logging.getLogger(__name__)

OK, SILENT, FAILING = "ok", "silent", "failing"
HISTORY = 50  # post times kept per source
_IDLE = SourceStatus(kind="", ok=True, last_ok=None, last_error=None, last_error_at=None,
                     failures=0, posts=0, last_post=None, backoff_until=None)
_SOURCE_RE = re.compile(r"(?<![\w:])source:([A-Za-z0-9][A-Za-z0-9_.\-]*)", re.I)


def _span(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 3600:
        return f"{max(1, seconds // 60)}m"
    if seconds < 86_400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86_400}d {seconds % 86_400 // 3600}h"


@dataclass(frozen=True, slots=True)
class Change:
    source_id: str
    state: str  # the new state: silent, failing or ok
    detail: str  # what /status and the notice say

    def notice(self) -> str:
        if self.state == OK:
            return f"✅ Source {self.source_id} is back: {self.detail}."
        return f"⚠️ Source {self.source_id} is {self.state}: {self.detail}."


NOTICE_ACTION = "source.state"  # the audit entry of each notice said


class SilenceWatch:
    """Per-source usual gaps and states (see the module docstring)."""

    def __init__(self, *, factor: float = 4.0, min_silence: float = 3600.0, min_gaps: int = 5,
                 failing_after: int = 3, clock: Callable[[], datetime] = utcnow) -> None:
        self.factor, self.min_silence, self.min_gaps = factor, min_silence, min_gaps
        self.failing_after = failing_after
        self._clock = clock
        self._times: dict[str, deque[datetime]] = {}
        self._counts: dict[str, int] = {}
        self._states: dict[str, str] = {}
        self._details: dict[str, str] = {}
        self._restored: set[str] = set()  # failing before a restart, no success seen since

    def learn(self, store: Store, limit: int = 20_000) -> None:
        """Seed the history from the newest stored posts (one query, at start)."""
        for stored in reversed(store.recent_posts(limit=limit)):
            self.observe(stored.post.source_id, stored.post.date)

    def restore(self, store: Store, limit: int = 5_000) -> None:
        """Take back the states said before a restart (the audit log keeps each notice), so a
        standing silence or failure is not said again, and a return is said once."""
        seen: set[str] = set()
        for entry in store.audit_log(limit=limit):
            source_id = entry.detail.get("source")
            if entry.action != NOTICE_ACTION or not isinstance(source_id, str) or source_id in seen:
                continue
            seen.add(source_id)
            state = entry.detail.get("state")
            if state in (SILENT, FAILING):
                self._states[source_id] = state
                self._details[source_id] = str(entry.detail.get("detail", ""))
                self._restored.add(source_id)

    def observe(self, source_id: str, when: datetime) -> None:
        times = self._times.setdefault(source_id, deque(maxlen=HISTORY))
        if not times or when >= times[-1]:
            times.append(when)

    def usual_gap(self, source_id: str) -> float | None:
        """The median gap between the source's posts in seconds, None while unknown."""
        times = self._times.get(source_id)
        if not times or len(times) <= self.min_gaps:
            return None
        ordered = list(times)
        gaps = [(b - a).total_seconds() for a, b in zip(ordered, ordered[1:], strict=False)]
        return statistics.median(gaps)

    def check(self, board: Mapping[str, SourceStatus],
              known: Iterable[str] = ()) -> list[Change]:
        """Read the board; the state changes since the last check, each once. `known` names
        the sources of the store too: a chat source that posted nothing since the start is
        on no board, and may be the silent one."""
        now = self._clock()
        changes = []
        statuses = dict(board)
        for source_id in known:
            statuses.setdefault(source_id, _IDLE)
        board = statuses
        for source_id, status in board.items():
            self._count(source_id, status)
            state, detail = self._state(source_id, status, now)
            before = self._states.get(source_id, OK)
            if source_id in self._restored:
                # Counters start again at a restart: a source said to be failing is back only
                # once a poll has worked since, a silent one once it has posted since.
                evidence = status.get("last_ok") if before == FAILING else status.get("posts")
                if state == OK and not evidence:
                    continue
                self._restored.discard(source_id)
            self._states[source_id] = state
            self._details[source_id] = detail
            if state != before:
                changes.append(Change(source_id, state, detail))
        for gone in [s for s in self._states if s not in board]:
            self._forget(gone)
        return changes

    def flags(self) -> dict[str, str]:
        """The sources flagged now, with why: for /status."""
        return {s: f"{state}: {self._details[s]}" for s, state in sorted(self._states.items())
                if state != OK}

    def _count(self, source_id: str, status: SourceStatus) -> None:
        posts = status.get("posts", 0)
        if posts > self._counts.get(source_id, 0) and status.get("last_post"):
            self.observe(source_id, datetime.fromisoformat(status["last_post"]))  # type: ignore[arg-type]
        self._counts[source_id] = posts

    def _state(self, source_id: str, status: SourceStatus, now: datetime) -> tuple[str, str]:
        failures = status.get("failures", 0)
        if failures >= self.failing_after:
            return FAILING, f"{failures} failed polls in a row ({status.get('last_error')})"
        gap = self.usual_gap(source_id)
        times = self._times.get(source_id)
        if gap is not None and times:
            quiet = (now - times[-1]).total_seconds()
            if quiet > max(self.factor * gap, self.min_silence):
                return SILENT, f"nothing for {_span(quiet)}, usually every {_span(gap)}"
            return OK, f"last post {_span(quiet)} ago, usually every {_span(gap)}"
        return OK, "working"

    def _forget(self, source_id: str) -> None:
        for table in (self._times, self._counts, self._states, self._details):
            table.pop(source_id, None)  # type: ignore[attr-defined]
        self._restored.discard(source_id)


def followers(source_id: str, rooms: list[Room], queries: Mapping[str, list[str]]) -> list[Room]:
    """The rooms that follow a source: those whose subscriptions name `source:<id>`, or every
    room when no subscription names it."""
    named = {room_id for room_id, texts in queries.items()
             if any(m.group(1).lower() == source_id.lower()
                    for text in texts for m in _SOURCE_RE.finditer(text))}
    return [r for r in rooms if r.id in named] if named else list(rooms)


def notice_alert(change: Change, room: Room, at: datetime | None = None) -> Alert:
    """A notice as an alert a platform can send (it is never stored)."""
    when = at or utcnow()
    post = Post(source_id=change.source_id, platform="wirewatch", chat="health",
                message_id=f"{change.state}-{when.timestamp():.0f}", text=change.notice(),
                date=when, author="wirewatch")
    return Alert(post=post, room_id=room.id, subscription_id="source-health",
                 analysis=Analysis(lang="en", lang_confidence=1.0))
