"""This module contains the transport of translation calls: off the event loop, bounded in time.

deep-translator is synchronous and sets no timeouts. A call runs on its provider's own
`Workers` (a small thread pool and a semaphore, so a provider whose calls hang cannot take
the next one's threads), with a hard timeout per call, a socket timeout inside the thread,
and retries with backoff on 429/5xx (`call_with_retries`). Every failure becomes a
`CallFailed` that says whether to retry and whether it counts against the provider.

The socket timeout: every deep-translator backend calls `requests.get`/`requests.post`
through the `requests` name in its own module. That name is pointed at `_TimedRequests`,
which adds our timeout and notes the HTTP status, but only inside calls made through
`call_blocking` (a thread-local context); everybody else gets plain `requests` behaviour.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from deep_translator import exceptions as dt_errors
from deep_translator.base import BaseTranslator

from bot.backoff import parse_retry_after

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 10.0  # a longer Retry-After: give up on the provider for this text


# ------------------------------------------------------------------ timeouts for requests


@dataclass
class CallContext:
    """What one provider call in a worker thread needs and what it saw."""

    timeout: float
    status: int | None = None
    retry_after: float | None = None
    error: requests.RequestException | None = None
    response: requests.Response | None = None


_local = threading.local()


class _TimedRequests:
    """Stands in for the `requests` module inside deep-translator's backends."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:  # exceptions, Session, ... pass through
        return getattr(self._real, name)

    def get(self, url: str, params: Any = None, **kwargs: Any) -> requests.Response:
        return self._send("get", url, params=params, **kwargs)

    def post(self, url: str, data: Any = None, json: Any = None, **kwargs: Any) -> requests.Response:
        return self._send("post", url, data=data, json=json, **kwargs)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        ctx: CallContext | None = getattr(_local, "ctx", None)
        if ctx is None:  # not one of our calls: behave exactly like requests
            return self._real.request(method, url, **kwargs)
        kwargs.setdefault("timeout", (ctx.timeout, ctx.timeout))
        try:
            response = self._real.request(method, url, **kwargs)
        except self._real.RequestException as exc:
            ctx.error = exc  # some backends swallow it and fail later on None
            raise
        ctx.status = response.status_code
        ctx.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        ctx.response = response
        return response


_install_lock = threading.Lock()


def install_timed_requests() -> None:
    """Point deep-translator's backends at `_TimedRequests` (once; idempotent)."""
    from deep_translator import deepl, google, libre, microsoft, mymemory

    with _install_lock:
        for module in (deepl, google, libre, microsoft, mymemory):
            if module.requests is requests:
                module.requests = _TimedRequests(requests)


# ------------------------------------------------------------------------ failures


class CallFailed(Exception):
    """One provider call failed; says whether to retry and whether it is the provider's fault."""

    def __init__(
        self, reason: str, *, retry: bool = False, counts: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.counts = counts  # towards the circuit breaker
        self.retry_after = retry_after


def _from_status(status: int, retry_after: float | None = None) -> CallFailed:
    if status == 429:
        return CallFailed("rate limited (429)", retry=True, retry_after=retry_after)
    if status >= 500:
        return CallFailed(f"server error ({status})", retry=True, retry_after=retry_after)
    if status in (401, 403):
        return CallFailed(f"not authorized ({status})")
    if status in (400, 413, 422):  # e.g. an unsupported language pair: not a sick provider
        return CallFailed(f"rejected ({status})", counts=False)
    return CallFailed(f"HTTP {status}")


def _transport_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    text = str(exc).lower()
    if isinstance(exc, requests.ConnectionError):
        if "refused" in text:
            return "unreachable (connection refused)"
        if "resolve" in text or "name or service" in text or "getaddrinfo" in text:
            return "unreachable (DNS lookup failed)"
        return "unreachable (connection failed)"
    return f"request failed ({type(exc).__name__})"


def _classify(exc: Exception, ctx: CallContext) -> CallFailed:
    transport = ctx.error if ctx.error is not None else exc
    if isinstance(transport, requests.RequestException) and not isinstance(transport, ValueError):
        # Timeouts and dead hosts are not retried: the time belongs to the next provider.
        return CallFailed(_transport_reason(transport))
    if isinstance(exc, dt_errors.LanguageNotSupportedException | dt_errors.InvalidSourceOrTargetLanguage):
        return CallFailed("unsupported language", counts=False)
    if isinstance(exc, dt_errors.NotValidLength | dt_errors.NotValidPayload):
        return CallFailed("text rejected by the client", counts=False)
    if isinstance(exc, dt_errors.ApiKeyException | dt_errors.AuthorizationException):
        return CallFailed("not authorized")
    if ctx.status is not None and not 200 <= ctx.status < 300:
        return _from_status(ctx.status, ctx.retry_after)
    if isinstance(exc, dt_errors.TooManyRequests):
        return CallFailed("rate limited", retry=True)
    if isinstance(exc, dt_errors.ServerException | dt_errors.RequestError):
        return CallFailed("server error", retry=True)
    if isinstance(exc, ValueError):  # JSON that does not parse
        return CallFailed("malformed response")
    if isinstance(exc, dt_errors.TranslationNotFound):
        return CallFailed("no translation in response")
    return CallFailed(f"bad response ({type(exc).__name__})")


def call_blocking(make: Callable[[], BaseTranslator], text: str, timeout: float,
                  check: Callable[[CallContext], None] | None = None) -> str:
    """One deep-translator call with a socket timeout; runs in a worker thread.

    `check` looks at what the server answered (a provider that reports errors in an HTTP 200)
    and raises `CallFailed`."""
    ctx = CallContext(timeout=timeout)
    _local.ctx = ctx
    try:
        try:
            out = make().translate(text)
            if check is not None:
                check(ctx)
        except CallFailed:
            raise
        except Exception as exc:
            raise _classify(exc, ctx) from exc
    finally:
        _local.ctx = None
    if not isinstance(out, str) or not out.strip():
        raise CallFailed("empty translation")
    return out


# ------------------------------------------------------------------------ workers


class Workers:
    """One provider's threads. A hung call keeps its slot until its thread really ends (so
    the pool never queues work behind it), and that costs this provider only."""

    def __init__(self, label: str, concurrency: int) -> None:
        self.label = label
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix=f"wirewatch-translate-{label}")
        self._slots = asyncio.Semaphore(concurrency)
        self.hung = 0  # calls whose caller timed out but whose worker thread still runs

    async def run(self, fn: Callable[[], str], timeout: float) -> str:
        """Run `fn` on a worker; give up on it after `timeout` seconds (TimeoutError)."""
        await self._acquire(timeout)
        loop = asyncio.get_running_loop()
        slot = _Slot(self)
        try:
            future = self._executor.submit(fn)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(functools.partial(_release_soon, loop, slot))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            if not future.done():  # the thread goes on (a server trickling its answer)
                slot.hung = True
                self.hung += 1
            raise

    async def _acquire(self, timeout: float) -> None:
        """A free slot. Calls that end in time free theirs within `timeout`; when the slots
        are held by hung calls, waiting longer than `timeout` is the provider's failure
        (counted by its breaker), not a reason to stall the chain."""
        while True:
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout)
                return
            except TimeoutError:
                if self.hung:
                    raise CallFailed(f"no free worker ({self.hung} calls hung)") from None

    def release(self, hung: bool) -> None:
        """A call's thread ended: its slot is free again (on the event loop thread)."""
        if hung:
            self.hung -= 1
        self._slots.release()

    def shutdown(self) -> None:
        """Stop taking work. Threads still in a request end by their socket timeout; nobody
        waits for them."""
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class _Slot:
    """One call's worker slot; on the event loop thread only."""

    workers: Workers
    hung: bool = False

    def release(self) -> None:
        self.workers.release(self.hung)


def _release_soon(loop: asyncio.AbstractEventLoop, slot: _Slot,
                  _future: concurrent.futures.Future[str]) -> None:
    try:
        loop.call_soon_threadsafe(slot.release)
    except RuntimeError:  # the loop is closed: nobody is waiting for a slot
        pass


# ------------------------------------------------------------------------ retries


def backoff(attempt: int, retry_after: float | None, timeout: float) -> float | None:
    """Exponential with jitter; None when the server asks for a longer pause than we keep."""
    if retry_after is not None and retry_after > MAX_RETRY_AFTER:
        return None
    base = min(1.0, timeout / 4)
    delay = base * 2**attempt * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


async def call_with_retries(workers: Workers, fn: Callable[[], str], *, timeout: float,
                            retries: int) -> str:
    """`fn` on `workers`, retried on 429/5xx up to `retries` times; raises CallFailed."""
    for attempt in range(retries + 1):
        try:
            return await workers.run(fn, timeout)
        except TimeoutError:
            raise CallFailed("timeout") from None
        except CallFailed as failed:
            delay = backoff(attempt, failed.retry_after, timeout)
            if not failed.retry or attempt == retries or delay is None:
                raise
            log.info("translation via %s: %s, retry %d/%d in %.2f s", workers.label,
                     failed.reason, attempt + 1, retries, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
