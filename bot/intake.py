"""This module contains the intake: every source's posts into the pipeline, paused while the
store cannot write.

When the store raises `StorageError` (disk full, database locked), the post that failed and
every later one are held in memory, in arrival order, and retried with backoff until a write
succeeds; then the held posts are stored in order and intake resumes. Nothing is dropped:
when the buffer is full, callers wait for room. Chat sources (Telegram updates, Discord
events, which the platform already confirmed) hand a post over and go on, so commands are
still answered; polled sources wait until their post is stored, so they never move their
cursor past a post that is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.errors import StorageError
from bot.model import Post
from bot.pipeline.runner import Outcome, Pipeline

log = logging.getLogger(__name__)

MAX_HELD = 10_000  # posts held in memory while storage is paused


@dataclass
class _Held:
    post: Post
    done: asyncio.Future[Outcome | None]


class Intake:
    """Runs posts through the pipeline; holds them while the store cannot write."""

    def __init__(self, pipeline: Pipeline, *, on_alerts: Callable[[], None] | None = None,
                 max_held: int = MAX_HELD, retry_base: float = 0.5, retry_cap: float = 10.0) -> None:
        self.pipeline = pipeline
        self.on_alerts = on_alerts
        self.max_held = max_held
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._held: deque[_Held] = deque()
        self._room = asyncio.Condition()
        self._serial = asyncio.Lock()
        self._drainer: asyncio.Task[None] | None = None
        self.paused_since: float | None = None
        self.last_error: str | None = None
        self.stored_after_pause = 0
        self._said_full = False

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    @property
    def held(self) -> int:
        return len(self._held)

    def health(self) -> dict[str, Any]:
        if not self.paused:
            return {"paused": False}
        return {"paused": True, "since": self.paused_since, "held": len(self._held),
                "error": self.last_error}

    async def ingest(self, post: Post, *, wait: bool = True) -> Outcome | None:
        """Process a post. While paused it is held; with `wait`, this returns only once it
        is stored (its outcome), else at once (None). Never raises for a bad post."""
        if not self.paused:
            try:
                return await self._run(post)
            except StorageError as exc:
                self._pause(exc)
            except Exception:
                log.exception("could not process post %s", post.key)
                return None
        done: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        async with self._room:
            if len(self._held) >= self.max_held:
                if not self._said_full:  # once per pause, like the pause itself
                    log.warning("%d posts held while the store cannot write: sources now wait "
                                "for room", len(self._held))
                    self._said_full = True
                await self._room.wait_for(lambda: len(self._held) < self.max_held)
            self._held.append(_Held(post, done))
        self._ensure_drainer()
        if not wait:
            return None
        return await asyncio.shield(done)

    async def _run(self, post: Post) -> Outcome:
        """Process one post; off the event loop when the pipeline may embed it (story
        grouping's sentence model), one post at a time so stories see them in order."""
        if not self.pipeline.blocking:
            outcome = self._process(post)
        else:
            async with self._serial:
                outcome = await asyncio.to_thread(self._process, post)
        if outcome.alert_ids and self.on_alerts is not None:
            self.on_alerts()  # on the loop: wakes an asyncio.Event
        return outcome

    def _process(self, post: Post) -> Outcome:
        self.pipeline.refresh()
        return self.pipeline.process(post)

    def _pause(self, exc: StorageError) -> None:
        if self.paused_since is None:
            self.paused_since = time.time()
            self.last_error = str(exc)
            self.stored_after_pause = 0
            # Once per pause, not once per post: a full disk can last hours.
            hint = "" if getattr(exc, "transient", True) else (
                " - this will not pass by itself: repair or restore the database file")
            log.error("the store cannot write (%s): ingest paused; posts are held in memory "
                      "(up to %d) and stored once it can write again%s", exc, self.max_held, hint)
        else:
            self.last_error = str(exc)

    def _ensure_drainer(self) -> None:
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="intake-retry")

    async def _drain(self) -> None:
        attempt = 0
        while self._held:
            item = self._held[0]
            try:
                outcome = await self._run(item.post)
            except StorageError as exc:
                self._pause(exc)
                attempt += 1
                await asyncio.sleep(min(self.retry_cap, self.retry_base * 2 ** (attempt - 1)))
                continue
            except Exception:
                log.exception("could not process post %s", item.post.key)
                outcome = None
            attempt = 0
            self._held.popleft()
            self.stored_after_pause += 1
            if not item.done.done():
                item.done.set_result(outcome)
            async with self._room:
                self._room.notify_all()
            await asyncio.sleep(0)  # let sources and commands run between held posts
        if self.paused_since is not None:
            log.warning("the store can write again: %d held posts stored after %.0fs; ingest "
                        "resumed", self.stored_after_pause, time.time() - self.paused_since)
        self.paused_since = None
        self.last_error = None
        self._said_full = False

    def release_waiters(self) -> None:
        """Stopping: sources waiting for a held post to be stored give up now (their cursor
        stays before it, so the next start fetches it again); the post stays held."""
        for item in self._held:
            if not item.done.done():
                item.done.cancel()

    async def aclose(self, timeout: float = 5.0) -> None:
        """Give held posts a last chance to be stored; say how many could not be."""
        if self._drainer is not None and not self._drainer.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._drainer), timeout)
            self._drainer.cancel()
            await asyncio.gather(self._drainer, return_exceptions=True)
        if self._held:
            log.error("stopping with %d posts not stored (the store could not write): polled "
                      "sources fetch theirs again at the next start, chat posts are lost",
                      len(self._held))
            for item in self._held:
                if not item.done.done():
                    item.done.cancel()
