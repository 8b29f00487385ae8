"""This module contains translation that never blocks an alert.

deep-translator is synchronous, sets no timeouts and its free backends rate-limit or block
at times. `Translator` wraps it: calls run in a small thread pool per provider (bounded by
`concurrency` each, so a provider whose calls hang cannot take the next one's workers), each
with a hard timeout, a socket timeout, retries with backoff on 429/5xx,
a circuit breaker per provider and an ordered fallback chain. Long texts are split under
each provider's request limit and rejoined with their separators; results are cached by
(sha256 of text, source, target). `translate_within` gives an alert at most `alert_wait`
seconds and hands back the still-running task otherwise.

The socket timeout: every deep-translator backend calls `requests.get`/`requests.post`
through the `requests` name in its own module. That name is pointed at `_TimedRequests`,
which adds our timeout and notes the HTTP status, but only inside calls made by this
module (a thread-local context); everybody else gets plain `requests` behaviour.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from deep_translator import (
    DeeplTranslator,
    GoogleTranslator,
    LibreTranslator,
    MicrosoftTranslator,
    MyMemoryTranslator,
)
from deep_translator import exceptions as dt_errors
from deep_translator.base import BaseTranslator
from deep_translator.constants import (
    DEEPL_LANGUAGE_TO_CODE,
    GOOGLE_LANGUAGES_TO_CODES,
    MY_MEMORY_LANGUAGES_TO_CODES,
)

from bot.errors import TranslationUnavailable
from bot.pipeline.breaker import CircuitBreaker
from bot.pipeline.chunking import URL_RE, Measure, split_text, url_encoded_size
from bot.settings import TranslationProvider, TranslationSettings

log = logging.getLogger(__name__)

AUTO = "auto"
NO_PROVIDER = "no translation provider configured"
# Query-string budget for providers that put the text in the URL (libre posts it as query
# parameters, google/deepl/mymemory use GET): keeps the request line under the 8 KiB that
# common servers and proxies accept.
LIBRE_QUERY_BUDGET = 6000
GOOGLE_QUERY_BUDGET = 4900  # also under deep-translator's 5000-character check
MAX_RETRY_AFTER = 10.0  # a longer Retry-After: give up on the provider for this text


# ---------------------------------------------------------------------------------- cache


class TranslationCache(Protocol):
    """Where finished translations are kept; calls are synchronous and fast."""

    def get_translation(self, key: str, source: str, target: str) -> str | None: ...

    def put_translation(self, key: str, source: str, target: str, text: str, provider: str) -> None: ...


class MemoryTranslationCache:
    """A dict-backed cache that forgets the oldest entries past `max_entries`."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[tuple[str, str, str], tuple[str, str]] = OrderedDict()

    def get_translation(self, key: str, source: str, target: str) -> str | None:
        hit = self._data.get((key, source, target))
        if hit is None:
            return None
        self._data.move_to_end((key, source, target))
        return hit[0]

    def put_translation(self, key: str, source: str, target: str, text: str, provider: str) -> None:
        self._data[(key, source, target)] = (text, provider)
        self._data.move_to_end((key, source, target))
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

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


# ------------------------------------------------------------------ timeouts for requests


@dataclass
class _CallContext:
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
        ctx: _CallContext | None = getattr(_local, "ctx", None)
        if ctx is None:  # not one of our calls: behave exactly like requests
            return self._real.request(method, url, **kwargs)
        kwargs.setdefault("timeout", (ctx.timeout, ctx.timeout))
        try:
            response = self._real.request(method, url, **kwargs)
        except self._real.RequestException as exc:
            ctx.error = exc  # some backends swallow it and fail later on None
            raise
        ctx.status = response.status_code
        ctx.retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        ctx.response = response
        return response


_install_lock = threading.Lock()


def _install_timed_requests() -> None:
    from deep_translator import deepl, google, libre, microsoft, mymemory

    with _install_lock:
        for module in (deepl, google, libre, microsoft, mymemory):
            if module.requests is requests:
                module.requests = _TimedRequests(requests)


def _parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: rare for these APIs, fall back to our backoff


# ------------------------------------------------------------------------ failures


class _CallFailed(Exception):
    """One provider call failed; says whether to retry and whether it is the provider's fault."""

    def __init__(
        self, reason: str, *, retry: bool = False, counts: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.counts = counts  # towards the circuit breaker
        self.retry_after = retry_after


def _from_status(status: int, retry_after: float | None = None) -> _CallFailed:
    if status == 429:
        return _CallFailed("rate limited (429)", retry=True, retry_after=retry_after)
    if status >= 500:
        return _CallFailed(f"server error ({status})", retry=True, retry_after=retry_after)
    if status in (401, 403):
        return _CallFailed(f"not authorized ({status})")
    if status in (400, 413, 422):  # e.g. an unsupported language pair: not a sick provider
        return _CallFailed(f"rejected ({status})", counts=False)
    return _CallFailed(f"HTTP {status}")


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


def _classify(exc: Exception, ctx: _CallContext) -> _CallFailed:
    transport = ctx.error if ctx.error is not None else exc
    if isinstance(transport, requests.RequestException) and not isinstance(transport, ValueError):
        # Timeouts and dead hosts are not retried: the time belongs to the next provider.
        return _CallFailed(_transport_reason(transport))
    if isinstance(exc, dt_errors.LanguageNotSupportedException | dt_errors.InvalidSourceOrTargetLanguage):
        return _CallFailed("unsupported language", counts=False)
    if isinstance(exc, dt_errors.NotValidLength | dt_errors.NotValidPayload):
        return _CallFailed("text rejected by the client", counts=False)
    if isinstance(exc, dt_errors.ApiKeyException | dt_errors.AuthorizationException):
        return _CallFailed("not authorized")
    if ctx.status is not None and not 200 <= ctx.status < 300:
        return _from_status(ctx.status, ctx.retry_after)
    if isinstance(exc, dt_errors.TooManyRequests):
        return _CallFailed("rate limited", retry=True)
    if isinstance(exc, dt_errors.ServerException | dt_errors.RequestError):
        return _CallFailed("server error", retry=True)
    if isinstance(exc, ValueError):  # JSON that does not parse
        return _CallFailed("malformed response")
    if isinstance(exc, dt_errors.TranslationNotFound):
        return _CallFailed("no translation in response")
    return _CallFailed(f"bad response ({type(exc).__name__})")


# ------------------------------------------------------------------ providers


def _primary(code: str) -> str:
    return code.split("-", 1)[0]


def _find(code: str, values: set[str], overrides: dict[str, str]) -> str | None:
    """The provider's spelling of `code` among `values`, case-insensitively."""
    if code in overrides:
        return overrides[code]
    by_lower = {v.lower(): v for v in values}
    return by_lower.get(code) or by_lower.get(_primary(code))


_GOOGLE_CODES = set(GOOGLE_LANGUAGES_TO_CODES.values())
_GOOGLE_OVERRIDES = {"zh": "zh-CN", "zh-hans": "zh-CN", "zh-hant": "zh-TW", "he": "iw", "jv": "jw", "nb": "no", "fil": "tl"}
_DEEPL_CODES = set(DEEPL_LANGUAGE_TO_CODE.values())
_MYMEMORY_CODES = set(MY_MEMORY_LANGUAGES_TO_CODES.values())
_MYMEMORY_OVERRIDES = {"en": "en-GB", "zh": "zh-CN", "ar": "ar-SA", "pt": "pt-PT", "es": "es-ES"}


def _google_code(code: str) -> str | None:
    return _find(code, _GOOGLE_CODES, _GOOGLE_OVERRIDES)


def _deepl_code(code: str) -> str | None:
    return _find(_primary(code), _DEEPL_CODES, {})


def _mymemory_code(code: str) -> str | None:
    found = _find(code, _MYMEMORY_CODES, _MYMEMORY_OVERRIDES)
    if found and "-" in found:
        return found
    base = _primary(code)
    if f"{base}-{base.upper()}" in _MYMEMORY_CODES:  # ru-RU, de-DE, pl-PL
        return f"{base}-{base.upper()}"
    regional = sorted(v for v in _MYMEMORY_CODES if v.lower().startswith(base + "-"))
    return regional[0] if regional else None


def _libre_code(code: str) -> str | None:
    # deep-translator's libre table is stale (no uk, bg, be): the server decides, and
    # answers 400 for a language it lacks, which falls through to the next provider.
    return {"zh-cn": "zh", "zh-hans": "zh", "zh-tw": "zt", "zh-hant": "zt"}.get(code, _primary(code))


def _microsoft_code(code: str) -> str | None:
    return {"zh": "zh-Hans", "zh-cn": "zh-Hans", "zh-tw": "zh-Hant"}.get(code, _primary(code))


class _CachedMicrosoftTranslator(MicrosoftTranslator):
    """Fetches Microsoft's language list once per process instead of on every call."""

    _languages: dict[str, str] | None = None

    def _get_supported_languages(self) -> dict[str, str]:
        cls = type(self)
        if cls._languages is None:
            cls._languages = super()._get_supported_languages()
        return cls._languages


def _build_libre(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    key = p.api_key()
    url = p.url if p.url is None or p.url.endswith("/") else p.url + "/"
    # LibreTranslator insists on a key; a keyless server gets none sent.
    tr = LibreTranslator(source="auto", target="en", api_key=key or "-", custom_url=url,
                         use_free_api=p.use_free_api)
    if not key:
        tr.api_key = None
    tr.source, tr.target = source, target  # the setters skip the stale table
    return tr


def _build_google(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    return GoogleTranslator(source=source, target=target)


def _build_deepl(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    tr = DeeplTranslator(source=source or AUTO, target=target, api_key=p.api_key(),
                         use_free_api=p.use_free_api)
    tr.source = source  # None: requests drops the parameter and DeepL detects
    return tr


def _build_microsoft(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    tr = _CachedMicrosoftTranslator(source=AUTO, target="en", api_key=p.api_key(), region=p.region)
    tr.source, tr.target = source, target  # None source: "from" is dropped, Microsoft detects
    return tr


def _build_mymemory(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    return MyMemoryTranslator(source=source, target=target, email=p.email)


def _check_mymemory(ctx: _CallContext) -> None:
    """MyMemory answers errors with HTTP 200 and the message as the 'translation'."""
    try:
        status = int(ctx.response.json().get("responseStatus", 200)) if ctx.response else 200
    except (ValueError, TypeError, AttributeError):
        return
    if status == 429:
        raise _CallFailed("daily quota exhausted")
    if status != 200:
        raise _CallFailed(f"rejected ({status})", counts=False)


@dataclass(frozen=True)
class _Spec:
    """How to talk to one kind of provider."""

    build: Callable[[TranslationProvider, str | None, str], BaseTranslator]
    code: Callable[[str], str | None]  # our code -> the provider's, None: unsupported
    limit: int
    measure: Measure
    auto: str | None  # source to send for auto-detection; None: omit it
    supports_auto: bool = True
    needs_key: bool = False
    check: Callable[[_CallContext], None] | None = None


_SPECS: dict[str, _Spec] = {
    "libre": _Spec(_build_libre, _libre_code, LIBRE_QUERY_BUDGET, url_encoded_size, AUTO),
    "google": _Spec(_build_google, _google_code, GOOGLE_QUERY_BUDGET, url_encoded_size, AUTO),
    "deepl": _Spec(_build_deepl, _deepl_code, LIBRE_QUERY_BUDGET, url_encoded_size, None, needs_key=True),
    "microsoft": _Spec(_build_microsoft, _microsoft_code, 10_000, len, None, needs_key=True),
    # MyMemory's auto-detection does not work: an unknown source goes to the next provider.
    "mymemory": _Spec(_build_mymemory, _mymemory_code, 499, len, None, supports_auto=False,
                      check=_check_mymemory),
}


def provider_codes(name: str, source: str | None, target: str) -> tuple[str | None, str] | None:
    """How provider `name` spells (source, target); source None means auto-detect.

    None if the provider cannot do this pair.
    """
    spec = _SPECS[name]
    src = normalize_language(source)
    tgt = normalize_language(target)
    if tgt == AUTO:
        return None
    target_code = spec.code(tgt)
    if target_code is None:
        return None
    if src == AUTO:
        return (spec.auto, target_code) if spec.supports_auto else None
    source_code = spec.code(src)
    return None if source_code is None else (source_code, target_code)


def normalize_language(code: str | None) -> str:
    """Lower-case code; None, '' and 'und' (undetermined) become 'auto'."""
    code = (code or "").strip().lower().replace("_", "-")
    return AUTO if code in ("", "und", AUTO) else code


def same_language(source: str | None, target: str) -> bool:
    src, tgt = normalize_language(source), normalize_language(target)
    return src != AUTO and _primary(src) == _primary(tgt)


def _needs_translation(chunk: str) -> bool:
    """A chunk that is only links, numbers and symbols goes through as it is."""
    return any(ch.isalpha() for ch in URL_RE.sub(" ", chunk))


def _call_blocking(spec: _Spec, provider: TranslationProvider, text: str, source: str | None,
                   target: str, timeout: float) -> str:
    """One deep-translator call; runs in a worker thread."""
    ctx = _CallContext(timeout=timeout)
    _local.ctx = ctx
    try:
        try:
            out = spec.build(provider, source, target).translate(text)
            if spec.check is not None:
                spec.check(ctx)
        except _CallFailed:
            raise
        except Exception as exc:
            raise _classify(exc, ctx) from exc
    finally:
        _local.ctx = None
    if not isinstance(out, str) or not out.strip():
        raise _CallFailed("empty translation")
    return out


@dataclass
class _Provider:
    label: str
    config: TranslationProvider
    spec: _Spec
    breaker: CircuitBreaker
    # Each provider has its own workers: a hung call keeps its slot until its thread really
    # ends (so the pool never queues work behind it), and that must cost this provider only.
    executor: concurrent.futures.ThreadPoolExecutor
    slots: asyncio.Semaphore
    hung: int = 0  # calls whose caller timed out but whose worker thread still runs

    def disabled(self) -> str | None:
        if self.spec.needs_key and not self.config.api_key():
            where = f"${self.config.api_key_env}" if self.config.api_key_env else "api_key_env"
            return f"disabled: no API key ({where} is not set)"
        return None

    def describe(self) -> str:
        state = self.disabled() or self.breaker.describe()
        if self.hung:
            state += f"; {self.hung} call{'s' if self.hung != 1 else ''} hung past the timeout"
        return state


def _labels(providers: list[TranslationProvider]) -> list[str]:
    """Provider names, with '#2', '#3' on repeats (two libre servers)."""
    seen: dict[str, int] = {}
    out = []
    for p in providers:
        seen[p.name] = seen.get(p.name, 0) + 1
        out.append(p.name if seen[p.name] == 1 else f"{p.name}#{seen[p.name]}")
    return out


# ------------------------------------------------------------------------ translator


class Translator:
    """Translates through an ordered chain of providers, off the event loop."""

    def __init__(self, settings: TranslationSettings, cache: TranslationCache | None = None) -> None:
        _install_timed_requests()
        self.settings = settings
        self.cache = cache
        self._providers = [
            _Provider(
                label, p, _SPECS[p.name],
                CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown),
                concurrent.futures.ThreadPoolExecutor(
                    max_workers=settings.concurrency,
                    thread_name_prefix=f"wirewatch-translate-{label}",
                ),
                asyncio.Semaphore(settings.concurrency),
            )
            for label, p in zip(_labels(settings.providers), settings.providers, strict=True)
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
        """Per provider: 'ok', 'open until 12:03:04 (3 failures: timeout)', 'disabled: ...',
        with '; 2 calls hung past the timeout' while worker threads are stuck."""
        return {p.label: p.describe() for p in self._providers}

    async def aclose(self) -> None:
        """Cancel and await every background translation; stop the thread pool."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Threads still in a request end by their socket timeout; nobody waits for them.
        for provider in self._providers:
            provider.executor.shutdown(wait=False, cancel_futures=True)

    # -- internals

    def _quick(self, text: str, source: str | None, target: str) -> Translation | None:
        """The answers that need no provider: nothing to do, a cache hit, or no chain."""
        if self._closed:
            raise TranslationUnavailable("translator is closed")
        if same_language(source, target) or not _needs_translation(text):
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

    async def _run_chain(self, text: str, source: str, target: str, key: str) -> Translation:
        reasons: list[str] = []
        for provider in self._providers:
            codes = provider_codes(provider.config.name, source, target)
            if codes is None:
                reasons.append(f"{provider.label}: no {source}->{target}")
                continue
            disabled = provider.disabled()
            if disabled:
                reasons.append(f"{provider.label}: {disabled}")
                continue
            if not provider.breaker.allow():
                reasons.append(f"{provider.label}: {provider.breaker.describe()}")
                continue
            try:
                out = await self._translate_text(provider, text, *codes)
            except _CallFailed as failed:
                if failed.counts:
                    if provider.breaker.failure(failed.reason):
                        log.warning("translation provider %s skipped for %.0f s after %d failures (%s)",
                                    provider.label, provider.breaker.cooldown,
                                    provider.breaker.failures, failed.reason)
                else:
                    provider.breaker.release()
                log.warning("translation %s->%s via %s failed: %s", source, target, provider.label,
                            failed.reason)
                reasons.append(f"{provider.label}: {failed.reason}")
                continue
            except BaseException:
                provider.breaker.release()
                raise
            provider.breaker.success()
            self._cache_put(key, source, target, out, provider.label)
            return Translation(out, provider.label)
        raise TranslationUnavailable("; ".join(reasons))

    async def _translate_text(self, provider: _Provider, text: str, source: str | None, target: str) -> str:
        """The whole text through one provider: chunks in parallel, rejoined in order."""
        split = split_text(text, provider.spec.limit, provider.spec.measure)
        parts = list(split.chunks)
        todo = [i for i, chunk in enumerate(parts) if _needs_translation(chunk)]
        calls = [asyncio.ensure_future(self._call(provider, parts[i], source, target)) for i in todo]
        try:
            for i, out in zip(todo, await asyncio.gather(*calls), strict=True):
                parts[i] = out
        finally:  # one chunk failed: the rest of the text needs another provider anyway
            for call in calls:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
        return split.join(parts)

    async def _call(self, provider: _Provider, text: str, source: str | None, target: str) -> str:
        """One chunk through one provider, with retries on 429/5xx."""
        retries = self.settings.retries
        for attempt in range(retries + 1):
            try:
                return await self._in_thread(
                    provider,
                    functools.partial(_call_blocking, provider.spec, provider.config, text, source,
                                      target, self.settings.timeout),
                )
            except TimeoutError:
                raise _CallFailed("timeout") from None
            except _CallFailed as failed:
                delay = self._backoff(attempt, failed.retry_after)
                if not failed.retry or attempt == retries or delay is None:
                    raise
                log.info("translation via %s: %s, retry %d/%d in %.2f s", provider.label,
                         failed.reason, attempt + 1, retries, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        """Exponential with jitter; None when the server asks for a longer pause than we keep."""
        if retry_after is not None and retry_after > MAX_RETRY_AFTER:
            return None
        base = min(1.0, self.settings.timeout / 4)
        delay = base * 2**attempt * random.uniform(0.8, 1.2)
        return max(delay, retry_after or 0.0)

    async def _in_thread(self, provider: _Provider, fn: Callable[[], str]) -> str:
        """Run `fn` on the provider's workers; give up on it after `timeout` seconds."""
        await self._acquire(provider)
        loop = asyncio.get_running_loop()
        call = _Slot(provider)
        try:
            future = provider.executor.submit(fn)
        except BaseException:
            provider.slots.release()
            raise
        future.add_done_callback(functools.partial(self._release_slot, loop, call))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.settings.timeout)
        except TimeoutError:
            if not future.done():  # the thread goes on (a server trickling its answer)
                call.hung = True
                provider.hung += 1
            raise

    async def _acquire(self, provider: _Provider) -> None:
        """A worker slot of `provider`. Calls that end in time free theirs within `timeout`;
        when the slots are held by hung calls, waiting longer than `timeout` is the provider's
        failure (counted by its breaker), not a reason to stall the chain."""
        timeout = self.settings.timeout
        while True:
            try:
                await asyncio.wait_for(provider.slots.acquire(), timeout)
                return
            except TimeoutError:
                if provider.hung:
                    raise _CallFailed(f"no free worker ({provider.hung} calls hung)") from None

    def _release_slot(self, loop: asyncio.AbstractEventLoop, call: _Slot,
                      _future: concurrent.futures.Future[str]) -> None:
        try:
            loop.call_soon_threadsafe(call.release)
        except RuntimeError:  # the loop is closed: nobody is waiting for a slot
            pass


@dataclass
class _Slot:
    """One call's worker slot; on the event loop thread only."""

    provider: _Provider
    hung: bool = False

    def release(self) -> None:
        if self.hung:
            self.provider.hung -= 1
        self.provider.slots.release()
