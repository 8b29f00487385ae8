"""Tests of the translator: deep-translator's real LibreTranslator against loopback fakes."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from deep_translator import LibreTranslator

from bot.errors import TranslationUnavailable
from bot.pipeline.breaker import CircuitBreaker
from bot.pipeline.chunking import URL_RE, url_encoded_size
from bot.pipeline.translate import (
    LIBRE_QUERY_BUDGET,
    NO_PROVIDER,
    MemoryTranslationCache,
    Translation,
    Translator,
    provider_codes,
    text_key,
)
from bot.settings import TranslationProvider, TranslationSettings
from tests.fakes.libretranslate import FakeLibreTranslate, render, unused_port

GUARD = 5.0  # far above every timeout used here: only a hang would reach it
TEXT = "Северокорейские войска участвуют в боях в Курской области."


@pytest.fixture
async def fake() -> AsyncIterator[FakeLibreTranslate]:
    async with FakeLibreTranslate() as server:
        yield server


@pytest.fixture
async def fake2() -> AsyncIterator[FakeLibreTranslate]:
    async with FakeLibreTranslate(languages={"en": "English", "ru": "Russian", "be": "Belarusian"}) as server:
        yield server


def libre(server: FakeLibreTranslate | str, **kw: Any) -> TranslationProvider:
    url = server if isinstance(server, str) else server.url
    return TranslationProvider(name="libre", url=url, **kw)


def settings(*providers: TranslationProvider, **kw: Any) -> TranslationSettings:
    values: dict[str, Any] = {"timeout": 0.3, "alert_wait": 2.0, "retries": 2, "breaker_failures": 3,
                              "breaker_cooldown": 0.3}
    values.update(kw)
    return TranslationSettings(providers=list(providers), **values)


@pytest.fixture
async def make() -> AsyncIterator[Any]:
    """Build translators that are closed after the test."""
    made: list[Translator] = []

    def build(*providers: TranslationProvider, cache: Any = None, **kw: Any) -> Translator:
        tr = Translator(settings(*providers, **kw), cache)
        made.append(tr)
        return tr

    yield build
    for tr in made:
        await tr.aclose()


async def translate(tr: Translator, text: str = TEXT, source: str | None = "ru", target: str = "en") -> Translation:
    return await asyncio.wait_for(tr.translate(text, source, target), GUARD)


# ------------------------------------------------------------------ the happy path


async def test_translates_through_deep_translator_libre(fake: FakeLibreTranslate, make: Any) -> None:
    tr = make(libre(fake))
    result = await translate(tr)
    assert result == Translation(render(TEXT, "en"), "libre")
    [seen] = fake.translations
    assert seen.method == "POST"
    assert seen.params == {"q": TEXT, "source": "ru", "target": "en", "format": "text"}


async def test_unknown_source_lets_the_provider_detect(fake: FakeLibreTranslate, make: Any) -> None:
    tr = make(libre(fake))
    assert (await translate(tr, TEXT, None)).text == render(TEXT, "en")
    assert (await translate(tr, TEXT + "!", "und")).text == render(TEXT + "!", "en")
    assert [s.params["source"] for s in fake.translations] == ["auto", "auto"]


async def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch, make: Any) -> None:
    monkeypatch.setenv("WW_TEST_LIBRE_KEY", "k-123")
    async with FakeLibreTranslate(api_keys={"k-123"}) as server:
        tr = make(libre(server, api_key_env="WW_TEST_LIBRE_KEY"))
        assert (await translate(tr)).provider == "libre"
        assert server.translations[0].params["api_key"] == "k-123"

        monkeypatch.delenv("WW_TEST_LIBRE_KEY")
        keyless = make(libre(server, api_key_env="WW_TEST_LIBRE_KEY"))
        with pytest.raises(TranslationUnavailable, match=r"not authorized \(403\)"):
            await translate(keyless, TEXT + " 2")
        assert "api_key" not in server.translations[-1].params


# ------------------------------------------------------------ no call needed


@pytest.mark.parametrize(("text", "source", "target"), [
    (TEXT, "ru", "ru"), (TEXT, "RU", "ru"), ("Troops moved.", "en", "en"), ("", "ru", "en"),
    ("  \n ", None, "en"), ("https://t.me/rybar/1 12:30", "und", "en"),
])
async def test_no_request_when_nothing_to_translate(
    fake: FakeLibreTranslate, make: Any, text: str, source: str | None, target: str
) -> None:
    tr = make(libre(fake))
    assert await translate(tr, text, source, target) == Translation(text, "none")
    assert await tr.translate_within(text, source, target) == (Translation(text, "none"), None, None)
    assert fake.seen == []


async def test_cache_hit_makes_no_request(fake: FakeLibreTranslate, make: Any) -> None:
    cache = MemoryTranslationCache()
    tr = make(libre(fake), cache=cache)
    first = await translate(tr)
    assert cache.get_translation(text_key(TEXT), "ru", "en") == first.text
    again = await translate(tr)
    assert again == Translation(first.text, "cache", cached=True)
    # Another translator on the same cache (a restart, another room): still no request.
    other = make(libre(fake), cache=cache)
    result, task, reason = await other.translate_within(TEXT, "ru", "en", wait=0)
    assert (result, task, reason) == (Translation(first.text, "cache", cached=True), None, None)
    assert len(fake.translations) == 1
    # Another target language is another entry.
    assert (await translate(tr, TEXT, "ru", "de")).text == render(TEXT, "de")
    assert len(fake.translations) == 2


def test_memory_cache_forgets_the_least_recently_used() -> None:
    cache = MemoryTranslationCache(max_entries=2)
    cache.put_translation("a", "ru", "en", "A", "libre")
    cache.put_translation("b", "ru", "en", "B", "libre")
    assert cache.get_translation("a", "ru", "en") == "A"  # now "b" is the oldest in use
    cache.put_translation("c", "ru", "en", "C", "libre")
    assert len(cache) == 2
    assert cache.get_translation("b", "ru", "en") is None
    assert (cache.get_translation("a", "ru", "en"), cache.get_translation("c", "ru", "en")) == ("A", "C")
    assert cache.get_translation("a", "ru", "uk") is None  # the pair is part of the key


async def test_same_text_for_two_rooms_at_once_costs_one_request(fake: FakeLibreTranslate, make: Any) -> None:
    fake.latency = 0.1
    tr = make(libre(fake), timeout=1.0)
    a, b = await asyncio.gather(tr.translate_within(TEXT, "ru", "en", wait=GUARD),
                                tr.translate_within(TEXT, "ru", "en", wait=GUARD))
    assert a[0] == b[0] == Translation(render(TEXT, "en"), "libre")
    assert len(fake.translations) == 1


async def test_broken_cache_costs_a_call_not_the_translation(fake: FakeLibreTranslate, make: Any) -> None:
    class BrokenCache:
        def get_translation(self, key: str, source: str, target: str) -> str | None:
            raise OSError("disk gone")

        def put_translation(self, key: str, source: str, target: str, text: str, provider: str) -> None:
            raise OSError("disk gone")

    tr = make(libre(fake), cache=BrokenCache())
    assert (await translate(tr)).provider == "libre"


# ------------------------------------------------------------ faults and retries


async def test_retries_429_and_5xx_with_backoff(fake: FakeLibreTranslate, make: Any) -> None:
    fake.faults = ["429", "500"]
    tr = make(libre(fake), retries=2)
    assert await translate(tr) == Translation(render(TEXT, "en"), "libre")
    assert [s.fault for s in fake.translations] == ["429", "500", None]


async def test_gives_up_after_the_retries(fake: FakeLibreTranslate, make: Any) -> None:
    fake.always = "502"
    tr = make(libre(fake), retries=1)
    with pytest.raises(TranslationUnavailable, match=r"libre: server error \(502\)"):
        await translate(tr)
    assert len(fake.translations) == 2


async def test_rejected_pair_is_not_retried_and_falls_through(
    fake: FakeLibreTranslate, fake2: FakeLibreTranslate, make: Any
) -> None:
    tr = make(libre(fake), libre(fake2), retries=2, breaker_failures=1)
    text = "Беларускія войскі"
    assert await translate(tr, text, "be", "en") == Translation(render(text, "en"), "libre#2")
    assert len(fake.translations) == 1  # 400: not retried
    assert tr.health()["libre"] == "ok"  # and not held against the provider


@pytest.mark.parametrize(("fault", "reason"), [("malformed", "malformed response"), ("empty", "empty translation")])
async def test_bad_answer_falls_through_to_the_next_provider(
    fake: FakeLibreTranslate, fake2: FakeLibreTranslate, make: Any, fault: str, reason: str
) -> None:
    fake.always = fault
    tr = make(libre(fake), libre(fake2), retries=2)
    assert await translate(tr) == Translation(render(TEXT, "en"), "libre#2")
    assert len(fake.translations) == 1
    alone = make(libre(fake))
    with pytest.raises(TranslationUnavailable, match=reason):
        await translate(alone, TEXT + "?")


async def test_hanging_provider_times_out_and_the_next_one_answers(
    fake: FakeLibreTranslate, fake2: FakeLibreTranslate, make: Any
) -> None:
    fake.always = "hang"
    # One worker each: the hung thread keeps the first provider's (the fake would hang for
    # 30 s), the second provider answers on its own.
    tr = make(libre(fake), libre(fake2), concurrency=1, retries=2)
    assert await translate(tr) == Translation(render(TEXT, "en"), "libre#2")
    assert len(fake.translations) == 1  # a timeout is not retried
    alone = make(libre(fake))
    with pytest.raises(TranslationUnavailable, match="libre: timeout"):
        await translate(alone, TEXT + "?")


@pytest.fixture
async def trickle() -> AsyncIterator[str]:
    """A raw server that sends its headers, then one byte every 0.5 s: no socket read ever
    times out, so a worker thread outlives the translator's timeout by far."""
    handlers: list[asyncio.Task[Any]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        assert me is not None
        handlers.append(me)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n")
            while True:
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.5)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    server.close()
    for task in handlers:  # the hung worker threads then see the connection end
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    await server.wait_closed()


async def test_a_trickling_provider_cannot_starve_the_next_one(
    trickle: str, fake: FakeLibreTranslate, make: Any
) -> None:
    tr = make(libre(trickle), libre(fake), timeout=1.0, alert_wait=3.0, concurrency=2, retries=0,
              breaker_failures=3)
    # Two rooms at once: both calls to the first provider hang and hold its two workers.
    outcomes = await asyncio.gather(*(tr.translate_within(f"{TEXT} {i}", "ru", "en") for i in range(2)))
    for i, (result, task, reason) in enumerate(outcomes):
        assert (result, task, reason) == (Translation(render(f"{TEXT} {i}", "en"), "libre#2"), None, None)
    assert tr.health()["libre"] == "ok; 2 calls hung past the timeout"
    # The next call waits for a worker no longer than the timeout, and that counts as failure.
    result, _, _ = await tr.translate_within(f"{TEXT} 2", "ru", "en")
    assert result == Translation(render(f"{TEXT} 2", "en"), "libre#2")
    assert re.fullmatch(r"down, retrying at \d\d:\d\d UTC; 2 calls hung past the timeout",
                        tr.health()["libre"])
    assert tr.health()["libre#2"] == "ok"


async def test_connection_refused_fails_fast_without_retries(make: Any) -> None:
    # With retries and backoff a 4 s timeout would take far longer than the wait.
    tr = make(libre(f"http://127.0.0.1:{unused_port()}"), timeout=4.0, retries=5)
    result, task, reason = await tr.translate_within(TEXT, "ru", "en", wait=3.0)
    assert (result, task) == (None, None)
    assert reason == "libre: unreachable (connection refused)"


async def test_worker_threads_are_bounded(fake: FakeLibreTranslate, make: Any) -> None:
    fake.latency = 0.05
    tr = make(libre(fake), concurrency=2, timeout=1.0)
    texts = [f"{TEXT} {i}" for i in range(6)]
    results = await asyncio.wait_for(asyncio.gather(*(tr.translate(t, "ru", "en") for t in texts)), GUARD)
    assert [r.text for r in results] == [render(t, "en") for t in texts]
    assert fake.max_in_flight <= 2


async def test_long_text_is_split_under_the_limit_and_rejoined_in_order(
    fake: FakeLibreTranslate, make: Any
) -> None:
    paragraphs = []
    for i in range(40):
        lines = [f"Сводка {i}.{j}: подразделения КНДР продвинулись у села номер {i * 10 + j}. "
                 f"Источник: https://t.me/source_{i}/{j}?single дополняет картину." for j in range(4)]
        paragraphs.append("\n".join(lines))
    # One paragraph on a single line, far over the limit: cut at sentences.
    paragraphs.insert(7, " ".join(f"Предложение {k} о боях под Суджей." for k in range(120)))
    text = "\n\n".join(paragraphs) + "\n"
    assert len(text) >= 20_000
    tr = make(libre(fake), concurrency=4, timeout=2.0)

    result = await translate(tr, text)

    requests_seen = fake.translations
    assert len(requests_seen) > 1
    # Every chunk translated once, in order, with the separators between them kept.
    assert result.text.replace("[en] ", "") == text.upper()
    assert result.text.count("[en] ") == len(requests_seen)
    words = set(text.split())
    for seen in requests_seen:
        q = seen.params["q"]
        assert url_encoded_size(q) <= LIBRE_QUERY_BUDGET
        assert len(seen.raw_path) < 8190  # the request line a server accepts
        assert q == q.strip() and set(q.split()) <= words  # no word cut
    for url in URL_RE.findall(text):
        assert any(url in seen.params["q"] for seen in requests_seen)


# ------------------------------------------------------------ circuit breaker


async def test_breaker_opens_after_failures_and_half_opens_after_cooldown(
    fake: FakeLibreTranslate, make: Any
) -> None:
    fake.always = "500"
    tr = make(libre(fake), retries=0, breaker_failures=2, breaker_cooldown=0.3)
    for i in range(2):
        with pytest.raises(TranslationUnavailable, match=r"server error \(500\)"):
            await translate(tr, f"{TEXT} {i}")
    assert re.fullmatch(r"down, retrying at \d\d:\d\d UTC", tr.health()["libre"])
    with pytest.raises(TranslationUnavailable, match=r"^translation service down, retrying at \d\d:\d\d UTC$"):
        await translate(tr, f"{TEXT} skipped")
    assert len(fake.translations) == 2  # skipped: no request

    await asyncio.sleep(0.35)
    assert tr.health()["libre"] == "down, trying again now"
    fake.always = None
    assert (await translate(tr, f"{TEXT} trial")).provider == "libre"
    assert tr.health() == {"libre": "ok"}
    assert len(fake.translations) == 3


async def test_failed_trial_reopens_and_only_one_trial_runs(fake: FakeLibreTranslate, make: Any) -> None:
    fake.always = "500"
    tr = make(libre(fake), retries=0, breaker_failures=1, breaker_cooldown=0.3)
    with pytest.raises(TranslationUnavailable):
        await translate(tr)
    await asyncio.sleep(0.35)
    fake.latency = 0.1
    outcomes = await asyncio.gather(*(tr.translate(f"{TEXT} {i}", "ru", "en") for i in range(3)),
                                    return_exceptions=True)
    assert all(isinstance(o, TranslationUnavailable) for o in outcomes)
    assert len(fake.translations) == 2  # the first failure, then a single trial
    assert tr.health()["libre"].startswith("down, retrying at")


def test_breaker_state_machine_with_a_manual_clock() -> None:
    now = [100.0]
    breaker = CircuitBreaker(2, 10.0, clock=lambda: now[0], wall_clock=lambda: 0.0)
    assert breaker.allow() and breaker.describe() == "ok"
    assert breaker.failure("timeout") is False
    breaker.success()  # consecutive failures only
    assert breaker.failure("timeout") is False
    assert breaker.failure("timeout") is True
    assert breaker.state == "open" and not breaker.allow()
    now[0] += 10.0
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one
    breaker.release()  # the trial ended without a verdict: someone else may try
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed"


def test_breaker_speaks_plain_words_and_keeps_the_detail_for_logs() -> None:
    now = [100.0]
    breaker = CircuitBreaker(2, 90.0, clock=lambda: now[0], wall_clock=lambda: 1_700_000_000.0)
    breaker.failure("timeout")
    breaker.failure("server error (502)")
    # 1_700_000_000 is 22:13:20 UTC; open for 90 s more: the trial comes at 22:14:50 UTC.
    assert breaker.describe() == "down, retrying at 22:14 UTC"
    assert breaker.detail() == "open until 22:14:50 UTC (2 failures: server error (502))"
    now[0] += 90.0
    assert breaker.describe() == "down, trying again now"
    assert breaker.detail() == "half-open (2 failures: server error (502))"


async def test_alert_note_says_service_down_and_the_log_has_the_breaker_detail(
    fake: FakeLibreTranslate, fake2: FakeLibreTranslate, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake.always = fake2.always = "500"
    tr = make(libre(fake), libre(fake2), retries=0, breaker_failures=1, breaker_cooldown=120.0)
    with pytest.raises(TranslationUnavailable, match=r"libre: server error \(500\); libre#2: server"):
        await translate(tr)
    before = datetime.now(UTC) + timedelta(seconds=120)
    caplog.set_level(logging.INFO, logger="bot.pipeline.translate")
    result, task, reason = await tr.translate_within(f"{TEXT} 2", "ru", "en")
    after = datetime.now(UTC) + timedelta(seconds=120)
    assert (result, task) == (None, None)
    assert reason in {f"translation service down, retrying at {t:%H:%M} UTC" for t in (before, after)}
    for state in tr.health().values():
        assert state.startswith("down, retrying at ") and "fail" not in state and "open" not in state
    assert re.search(r"skips libre: open until \d\d:\d\d:\d\d UTC \(1 failure: server error \(500\)\)",
                     caplog.text)
    assert len(fake.translations) == len(fake2.translations) == 1  # the second text: no call


# ------------------------------------------------------------ fallback chain and codes


async def test_falls_back_to_second_provider(
    fake: FakeLibreTranslate, fake2: FakeLibreTranslate, make: Any
) -> None:
    fake.always = "500"
    tr = make(libre(fake), libre(fake2), retries=1)
    assert await translate(tr) == Translation(render(TEXT, "en"), "libre#2")
    assert len(fake.translations) == 2 and len(fake2.translations) == 1


async def test_unsupported_or_disabled_provider_is_skipped_without_a_call(
    fake: FakeLibreTranslate, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WW_TEST_DEEPL_KEY", raising=False)
    # MyMemory cannot auto-detect, DeepL has no key: both skipped, neither touched.
    tr = make(TranslationProvider(name="mymemory"),
              TranslationProvider(name="deepl", api_key_env="WW_TEST_DEEPL_KEY"),
              libre(fake), breaker_failures=1)
    assert (await translate(tr, TEXT, None)).provider == "libre"
    health = tr.health()
    assert health["mymemory"] == "ok"
    assert health["deepl"] == "disabled: no API key ($WW_TEST_DEEPL_KEY is not set)"


def test_language_codes_per_provider() -> None:
    assert provider_codes("google", "zh", "en") == ("zh-CN", "en")
    assert provider_codes("google", "zh-tw", "he") == ("zh-TW", "iw")
    assert provider_codes("google", None, "ko") == ("auto", "ko")
    assert provider_codes("google", "xx", "en") is None
    assert provider_codes("mymemory", "ru", "en") == ("ru-RU", "en-GB")
    assert provider_codes("mymemory", "uk", "ko") == ("uk-UA", "ko-KR")
    assert provider_codes("mymemory", "und", "en") is None
    assert provider_codes("deepl", None, "de") == (None, "de")
    assert provider_codes("deepl", "ko", "en") is None
    assert provider_codes("libre", "uk", "en") == ("uk", "en")
    assert provider_codes("microsoft", "zh", "ru") == ("zh-Hans", "ru")


async def test_no_provider_configured(make: Any) -> None:
    tr = make()
    with pytest.raises(TranslationUnavailable, match=NO_PROVIDER):
        await tr.translate(TEXT, "ru", "en")
    assert await tr.translate_within(TEXT, "ru", "en") == (None, None, NO_PROVIDER)


# ------------------------------------------------------------ never block an alert


async def test_translate_within_returns_the_result_in_time(fake: FakeLibreTranslate, make: Any) -> None:
    tr = make(libre(fake))
    assert await tr.translate_within(TEXT, "ru", "en") == (Translation(render(TEXT, "en"), "libre"), None, None)


async def test_translate_within_hands_back_a_pending_task(
    fake: FakeLibreTranslate, fake2: FakeLibreTranslate, make: Any
) -> None:
    fake.always = "hang"
    tr = make(libre(fake), libre(fake2), timeout=0.3)
    result, task, reason = await tr.translate_within(TEXT, "ru", "en", wait=0.05)
    assert result is None and reason is None and task is not None
    assert await asyncio.wait_for(task, GUARD) == Translation(render(TEXT, "en"), "libre#2")


async def test_pending_task_raises_translation_unavailable(fake: FakeLibreTranslate, make: Any) -> None:
    fake.always = "hang"
    tr = make(libre(fake), timeout=0.3)
    result, task, reason = await tr.translate_within(TEXT, "ru", "en", wait=0)
    assert task is not None
    with pytest.raises(TranslationUnavailable, match="timeout"):
        await asyncio.wait_for(task, GUARD)


async def test_failure_inside_the_wait_is_reported_not_raised(fake: FakeLibreTranslate, make: Any) -> None:
    fake.always = "429"
    tr = make(libre(fake), retries=0)
    assert await tr.translate_within(TEXT, "ru", "en") == (None, None, "libre: rate limited (429)")


async def test_aclose_cancels_and_awaits_background_work(fake: FakeLibreTranslate) -> None:
    loop = asyncio.get_running_loop()
    problems: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    fake.always = "hang"
    tr = Translator(settings(libre(fake), timeout=1.0))
    _, pending, _ = await tr.translate_within(TEXT, "ru", "en", wait=0)
    direct = asyncio.create_task(tr.translate(TEXT, "ru", "en"))  # joins the same call
    await asyncio.sleep(0.05)

    await tr.aclose()

    assert pending is not None and pending.cancelled()
    with pytest.raises(TranslationUnavailable, match="shutting down"):
        await direct  # a caller that was not cancelled gets an answer, not CancelledError
    with pytest.raises(TranslationUnavailable, match="closed"):
        await tr.translate(TEXT, "ru", "en")
    del pending, direct
    gc.collect()
    await asyncio.sleep(0)
    assert problems == []


# ------------------------------------------------------------ the socket-timeout shim


async def test_timeout_shim_leaves_other_callers_alone(make: Any) -> None:
    make()  # installs the shim
    assert requests.get.__module__ == "requests.api"  # requests itself is untouched
    async with FakeLibreTranslate(hang_seconds=0.4) as server:
        server.faults = ["hang"]
        direct = LibreTranslator(source="ru", target="en", api_key="k", custom_url=server.url)
        # Outside the translator no timeout is added: the slow answer still arrives.
        out = await asyncio.wait_for(asyncio.to_thread(direct.translate, TEXT), GUARD)
        assert out == render(TEXT, "en")
