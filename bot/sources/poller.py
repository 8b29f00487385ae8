"""This module contains the one generic poller: it runs a `Fetcher` on a `Schedule`.

A polled source brings only its fetch and parse (`bot.ports.Fetcher`); `Poller` adds the rest,
the same for t.me/s previews and feeds: the schedule (interval with jitter, exponential backoff
with a cap, the server's Retry-After as a floor), a time limit on each fetch, the cursor (moved
past each post once it is handed over, saved through `save`), redelivery of a post the
pipeline refused (skipped after a few tries so one poison post cannot stall the source), a
prompt stop, and health bookkeeping in a `SourceHealth` recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.backoff import Schedule
from bot.errors import SourceError, StorageError
from bot.model import Post
from bot.ports import Batch, Emit, Fetcher, SourceStatus
from bot.sources.health import SourceHealth

log = logging.getLogger(__name__)

T = TypeVar("T")
EMIT_ATTEMPTS = 3  # a post the pipeline keeps refusing is skipped after this many tries
SaveCursor = Callable[[str], None]


class Poller:
    """Polls one `Fetcher` until stopped and emits each new post once (a `bot.ports.Source`).

    `cursor` is the fetcher's opaque position: it starts at what the store kept, moves past
    each post once `emit` returned, and past the whole batch after it; every move is passed to
    `save` (the store), so a stop or a crash at any point neither loses nor repeats a post.
    """

    def __init__(self, fetcher: Fetcher, schedule: Schedule | None = None, *,
                 cursor: str | None = None, save: SaveCursor | None = None,
                 health: SourceHealth | None = None, fetch_timeout: float = 120.0,
                 rng: random.Random | None = None) -> None:
        self.fetcher = fetcher
        self.source_id = fetcher.source_id
        self.kind = fetcher.kind
        self.schedule = schedule or Schedule()
        self.cursor = cursor
        self.health = health or SourceHealth(self.source_id, self.kind)
        self.fetch_timeout = fetch_timeout
        self._save = save
        self._rng = rng
        self._emit_failures: dict[str, int] = {}  # post key -> refused attempts
        self._retry_delay = self.schedule.interval  # set by every failure
        self._closed = False

    def status(self) -> SourceStatus:
        return self.health.status()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self.fetcher.aclose()

    # one round --------------------------------------------------------------------------------

    async def fetch(self) -> Batch:
        """One fetch from the cursor; failures are recorded in health and raised as SourceError."""
        try:
            async with asyncio.timeout(self.fetch_timeout):
                return await self.fetcher.fetch(self.cursor)
        except SourceError as exc:
            self._failed(str(exc), exc.retry_after)
            raise
        except TimeoutError as exc:
            self._failed(f"no answer within {self.fetch_timeout:g}s", None)
            raise SourceError(f"no answer within {self.fetch_timeout:g}s") from exc
        except Exception as exc:  # a parser surprise is still just a failed poll
            log.exception("%s: fetch failed unexpectedly", self.source_id)
            self._failed(f"internal error: {exc!r}", None)
            raise SourceError(f"internal error: {exc!r}") from exc

    async def poll_once(self) -> list[Post]:
        """Fetch, take every new post as handed over, and return them (no emit): for a first
        look at a source and for tests. Raises SourceError on failure."""
        batch = await self.fetch()
        for post, cursor in batch.items:
            self._advance(cursor)
            self.health.seen(post)
        self._settle(batch)
        self.health.succeeded()
        return [post for post, _ in batch.items]

    async def _round(self, emit: Emit, stop: asyncio.Event) -> float | None:
        """One fetch and its emits; the delay before the next, None when stopping."""
        try:
            batch = await _unless_stopped(self.fetch(), stop)
        except SourceError:
            return self._retry_delay
        if batch is None:
            return None
        for post, cursor in batch.items:
            try:
                await emit(post)
            except Exception as exc:
                if not self._refused(post, exc):
                    return self._failed(f"handing over post {post.message_id} failed: {exc!r}",
                                        None)
            else:
                self.health.seen(post)
            self._emit_failures.pop(post.key, None)
            self._advance(cursor)
        self._settle(batch)
        self.health.succeeded()
        delay = self.schedule.next(0, rng=self._rng)
        return max(delay, batch.wait) if batch.wait is not None else delay

    def _refused(self, post: Post, exc: Exception) -> bool:
        """Count a refused emit; True when the post is to be skipped (tried too often)."""
        if isinstance(exc, StorageError) and exc.transient:
            return False  # disk full or locked: the post is fine, wait for the store
        tries = self._emit_failures.get(post.key, 0) + 1
        self._emit_failures[post.key] = tries
        if tries < EMIT_ATTEMPTS:
            return False
        log.error("%s: giving up on post %s after %s attempts: %r",
                  self.source_id, post.message_id, tries, exc)
        self.health.note(f"skipped post {post.message_id} after {tries} failed attempts: {exc!r}")
        return True

    # the loop ---------------------------------------------------------------------------------

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Poll and emit until `stop` is set; a stop cuts a fetch or a wait short."""
        log.info("polling %s %s every %gs (cursor %s)", self.kind, self.source_id,
                 self.schedule.interval, self.cursor)
        delay: float | None = self.schedule.first(self._rng)
        try:
            while delay is not None and not await _stopped_within(stop, delay):
                try:
                    delay = await self._round(emit, stop)
                except Exception as exc:  # never let one bad round end the source
                    log.exception("%s: unexpected error", self.source_id)
                    delay = self._failed(f"internal error: {exc!r}", None)
        finally:
            await self.aclose()
        log.info("stopped polling %s (cursor %s)", self.source_id, self.cursor)

    # bookkeeping ------------------------------------------------------------------------------

    def _failed(self, error: str, retry_after: float | None) -> float:
        """Record a failure; returns the delay before the next attempt."""
        delay = self.schedule.next(self.health.failures + 1, retry_after, rng=self._rng)
        self._retry_delay = delay
        self.health.failed(error, retry_in=delay)
        log.warning("%s: %s; next try in %.1fs", self.source_id, error, delay)
        return delay

    def _advance(self, cursor: str | None) -> None:
        if cursor is None or cursor == self.cursor:
            return
        self.cursor = cursor
        if self._save is None:
            return
        try:
            self._save(cursor)
        except StorageError as exc:
            # The post is in; only its position is not stored yet. The next move saves again,
            # and a restart before that re-reads a few posts the store deduplicates by key.
            log.warning("%s: could not save the cursor %s: %s", self.source_id, cursor, exc)
            self.health.note(f"could not save the cursor: {exc}")

    def _settle(self, batch: Batch) -> None:
        self._advance(batch.cursor)


async def _stopped_within(stop: asyncio.Event, delay: float) -> bool:
    """Wait `delay` seconds or until `stop` is set; True if it was."""
    if delay > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return stop.is_set()


async def _unless_stopped(coro: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Await `coro` unless `stop` is set first (then cancel it and return None)."""
    work = asyncio.ensure_future(coro)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
    if work.cancelled():
        return None
    if stop.is_set():
        work.exception()  # retrieved, so asyncio does not warn; the round is dropped anyway
        return None
    return work.result()
