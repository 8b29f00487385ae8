"""This module contains the translator chain: translation that never blocks an alert.

`Translator` tries its providers in the configured order, skipping those that cannot do the
language pair, have no key, or are resting behind their circuit breaker. Long texts are
split under each provider's request limit and rejoined with their separators; a text in
the target language, or only links and numbers, needs no call; results are cached by
(sha256 of text, source, target), and concurrent requests for the same translation share
one call. `translate_within` gives an alert at most `alert_wait` seconds and hands back the
still-running task otherwise. What editors read (an alert's note, /status) is in plain
words; the breakers' details go to the log.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cachetools import LRUCache

from bot.errors import TranslationUnavailable
from bot.pipeline.breaker import CircuitBreaker
from bot.pipeline.chunking import URL_RE, split_text
from bot.pipeline.translate.providers import (
    SPECS,
    Spec,
    labels,
    missing_key,
    normalize_language,
    provider_codes,
    same_language,
)
from bot.pipeline.translate.transport import (
    CallFailed,
    Workers,
    call_blocking,
    call_with_retries,
    install_timed_requests,
)
from bot.settings import TranslationProvider, TranslationSettings

log = logging.getLogger(__name__)

NO_PROVIDER = "no translation provider configured"


# ---------------------------------------------------------------------------------- cache


class TranslationCache(Protocol):
    """Where finished translations are kept; calls are synchronous and fast."""

    def get_translation(self, key: str, source: str, target: str) -> str | None: ...

    def put_translation(self, key: str, source: str, target: str, text: str, provider: str) -> None: ...


class MemoryTranslationCache:
    """An in-memory cache that forgets the least recently used entries past `max_entries`."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._data: LRUCache[tuple[str, str, str], str] = LRUCache(maxsize=max_entries)

    def get_translation(self, key: str, source: str, target: str) -> str | None:
        return self._data.get((key, source, target))

    def put_translation(self, key: str, source: str, target: str, text: str, provider: str) -> None:
        self._data[(key, source, target)] = text

    def __len__(self) -> int:
        return len(self._data)


def text_key(text: str) -> str:
    """The cache key of a text: sha256 hex of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Translation:
    text: str
    provider: str  # provider label, "cache", or "none" when nothing needed translating
    cached: bool = False


def needs_translation(chunk: str) -> bool:
    """A chunk that is only links, numbers and symbols goes through as it is."""
    return any(ch.isalpha() for ch in URL_RE.sub(" ", chunk))


# ------------------------------------------------------------------------ one link


@dataclass
class _Link:
    """One provider of the chain: its settings, client spec, breaker and threads."""

    label: str
    config: TranslationProvider
    spec: Spec
    breaker: CircuitBreaker
    workers: Workers

    def disabled(self) -> str | None:
        return missing_key(self.spec, self.config)

    def describe(self) -> str:
        state = self.disabled() or self.breaker.describe()
        hung = self.workers.hung
        if hung:
            state += f"; {hung} call{'s' if hung != 1 else ''} hung past the timeout"
        return state


# ------------------------------------------------------------------------ translator


class Translator:
    """Translates through an ordered chain of providers, off the event loop."""

    def __init__(self, settings: TranslationSettings, cache: TranslationCache | None = None) -> None:
        install_timed_requests()
        self.settings = settings
        self.cache = cache
        self._providers = [
            _Link(label, p, SPECS[p.name],
                  CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown),
                  Workers(label, settings.concurrency))
            for label, p in zip(labels(settings.providers), settings.providers, strict=True)
        ]
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight: dict[tuple[str, str, str], asyncio.Task[Translation]] = {}
        self._closed = False

    # -- public

    async def translate(self, text: str, source: str | None, target: str) -> Translation:
        """Translate or raise TranslationUnavailable(reason) once every provider failed."""
        quick = self._quick(text, source, target)
        if quick is not None:
            return quick
        src, tgt = normalize_language(source), normalize_language(target)
        flight = (text_key(text), src, tgt)
        task = self._inflight.get(flight)
        if task is None:  # the same text for a second room joins the first call
            task = self._spawn(self._run_chain(text, src, tgt, flight[0]))
            self._inflight[flight] = task
            task.add_done_callback(functools.partial(self._forget_flight, flight))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and me is not None and me.cancelling() == 0:
                raise TranslationUnavailable("translator is shutting down") from None
            raise

    async def translate_within(
        self, text: str, source: str | None, target: str, wait: float | None = None
    ) -> tuple[Translation | None, asyncio.Task[Translation] | None, str | None]:
        """Wait at most `wait` (default `alert_wait`) seconds for the translation.

        (result, None, None) if done in time; (None, task, None) if still running (the task
        resolves later or raises TranslationUnavailable); (None, None, reason) if it failed.
        """
        wait = self.settings.alert_wait if wait is None else max(0.0, wait)
        try:
            quick = self._quick(text, source, target)
        except TranslationUnavailable as exc:
            return None, None, str(exc)
        if quick is not None:
            return quick, None, None
        task = self._spawn(self._translate_guarded(text, source, target))
        done, _ = await asyncio.wait({task}, timeout=wait)
        if not done:
            return None, task, None
        if task.cancelled():
            return None, None, "translator is shutting down"
        exc = task.exception()
        if exc is not None:
            return None, None, str(exc)
        return task.result(), None, None

    def health(self) -> dict[str, str]:
        """Per provider: 'ok', 'down, retrying at 14:36 UTC', 'disabled: ...', with
        '; 2 calls hung past the timeout' while worker threads are stuck."""
        return {p.label: p.describe() for p in self._providers}

    async def aclose(self) -> None:
        """Cancel and await every background translation; stop the thread pools."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for provider in self._providers:
            provider.workers.shutdown()

    # -- answers without a provider

    def _quick(self, text: str, source: str | None, target: str) -> Translation | None:
        """The answers that need no provider: nothing to do, a cache hit, or no chain."""
        if self._closed:
            raise TranslationUnavailable("translator is closed")
        if same_language(source, target) or not needs_translation(text):
            return Translation(text, "none")
        if not self._providers:
            raise TranslationUnavailable(NO_PROVIDER)
        cached = self._cache_get(text_key(text), normalize_language(source), normalize_language(target))
        return Translation(cached, "cache", cached=True) if cached is not None else None

    def _cache_get(self, key: str, source: str, target: str) -> str | None:
        if self.cache is None:
            return None
        try:
            return self.cache.get_translation(key, source, target)
        except Exception:  # a broken cache costs a call, never the alert
            log.warning("translation cache read failed", exc_info=True)
            return None

    def _cache_put(self, key: str, source: str, target: str, text: str, provider: str) -> None:
        if self.cache is None:
            return
        try:
            self.cache.put_translation(key, source, target, text, provider)
        except Exception:
            log.warning("translation cache write failed", exc_info=True)

    # -- background tasks

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # mark retrieved: a pending task nobody awaited is not an error

    def _forget_flight(self, flight: tuple[str, str, str], task: asyncio.Task[Any]) -> None:
        if self._inflight.get(flight) is task:
            del self._inflight[flight]

    async def _translate_guarded(self, text: str, source: str | None, target: str) -> Translation:
        try:
            return await self.translate(text, source, target)
        except TranslationUnavailable:
            raise
        except Exception as exc:  # a bug must not reach the relay as anything but "failed"
            log.exception("translation crashed")
            raise TranslationUnavailable(f"internal error: {exc!r}") from exc

    # -- the chain

    async def _run_chain(self, text: str, source: str, target: str, key: str) -> Translation:
        reasons: list[str] = []
        resting: list[datetime | None] = []  # providers skipped by their breaker
        tried = False
        for provider in self._providers:
            codes = provider_codes(provider.config.name, source, target)
            if codes is None:
                reasons.append(f"{provider.label}: cannot translate {source} to {target}")
                continue
            disabled = provider.disabled()
            if disabled:
                reasons.append(f"{provider.label}: {disabled}")
                continue
            if not provider.breaker.allow():
                log.info("translation %s->%s skips %s: %s", source, target, provider.label,
                         provider.breaker.detail())
                reasons.append(f"{provider.label}: {provider.breaker.describe()}")
                resting.append(provider.breaker.retry_at())
                continue
            tried = True
            try:
                out = await self._translate_text(provider, text, *codes)
            except CallFailed as failed:
                self._failed(provider, failed, source, target)
                reasons.append(f"{provider.label}: {failed.reason}")
                continue
            except BaseException:
                provider.breaker.release()
                raise
            provider.breaker.success()
            self._cache_put(key, source, target, out, provider.label)
            return Translation(out, provider.label)
        if resting and not tried:  # the others cannot do the pair: "down" is the news
            raise TranslationUnavailable(_down(resting))
        raise TranslationUnavailable("; ".join(reasons))

    def _failed(self, provider: _Link, failed: CallFailed, source: str, target: str) -> None:
        if not failed.counts:
            provider.breaker.release()
        elif provider.breaker.failure(failed.reason):
            log.warning("translation provider %s skipped for %.0f s after %d failures (%s): %s",
                        provider.label, provider.breaker.cooldown, provider.breaker.failures,
                        failed.reason, provider.breaker.detail())
        log.warning("translation %s->%s via %s failed: %s", source, target, provider.label,
                    failed.reason)

    async def _translate_text(self, provider: _Link, text: str, source: str | None, target: str) -> str:
        """The whole text through one provider: chunks in parallel, rejoined in order."""
        split = split_text(text, provider.spec.limit, provider.spec.measure)
        parts = list(split.chunks)
        todo = [i for i, chunk in enumerate(parts) if needs_translation(chunk)]
        calls = [asyncio.ensure_future(self._call(provider, parts[i], source, target)) for i in todo]
        try:
            for i, out in zip(todo, await asyncio.gather(*calls), strict=True):
                parts[i] = out
        finally:  # one chunk failed: the rest of the text needs another provider anyway
            for call in calls:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
        return split.join(parts)

    async def _call(self, provider: _Link, text: str, source: str | None, target: str) -> str:
        """One chunk through one provider, with retries on 429/5xx."""
        make = functools.partial(provider.spec.build, provider.config, source, target)
        fn = functools.partial(call_blocking, make, text, self.settings.timeout, provider.spec.check)
        return await call_with_retries(provider.workers, fn, timeout=self.settings.timeout,
                                       retries=self.settings.retries)


def _down(retry_at: list[datetime | None]) -> str:
    """Every provider rests behind its breaker: when the first one is tried again."""
    times = [t for t in retry_at if t is not None]
    if len(times) < len(retry_at):  # one is making its trial call right now
        return "translation service down, trying again now"
    return f"translation service down, retrying at {min(times):%H:%M} UTC"
