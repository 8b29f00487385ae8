"""This module contains tests of the telegram_public source against a loopback t.me/s/ server.

The fixture pages in tests/data follow the markup of the real web preview; the server serves
them over real HTTP (aiohttp), with the redirects, 429s and failures t.me produces. The source
is what `wirewatch run` polls: its fetcher run by the generic poller.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.backoff import Schedule
from bot.errors import SourceError
from bot.model import Post
from bot.sources.poller import Poller
from bot.sources.telegram_public import (
    TelegramPublicFetcher,
    normalize_username,
    parse_preview,
)

DATA = Path(__file__).resolve().parent.parent / "data"
CHANNEL = "kursk_frontline"
PAGE1 = (DATA / "tme_s_page1.html").read_text(encoding="utf-8")
PAGE2 = (DATA / "tme_s_page2.html").read_text(encoding="utf-8")
UNKNOWN = (DATA / "tme_s_unknown.html").read_text(encoding="utf-8")
GARBAGE = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p>\x00\x01 <div <<>> </body>"


class PreviewServer:
    """t.me on loopback: /s/<channel>[?before=N] pages, a redirect for unknown names."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {"": PAGE1}  # key: the `before` query value, "" for none
        self.replies: deque[tuple[int, dict[str, str], str] | None] = deque()  # None: hang
        self.requests: list[str] = []
        self.release = asyncio.Event()
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/s/{name}", self._preview)
        app.router.add_get("/{name}", self._contact)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/s/"

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _preview(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        if self.replies:
            reply = self.replies.popleft()
            if reply is None:
                await self.release.wait()
                return web.Response(status=504)
            status, headers, body = reply
            return web.Response(status=status, headers=headers, text=body,
                                content_type="text/html")
        if request.match_info["name"] != CHANNEL:
            raise web.HTTPFound(f"/{request.match_info['name']}")
        page = self.pages.get(request.query.get("before", ""))
        if page is None:
            return web.Response(status=404, text="not found")
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def _contact(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=UNKNOWN, content_type="text/html", charset="utf-8")


@pytest.fixture
async def server() -> AsyncIterator[PreviewServer]:
    srv = PreviewServer()
    await srv.start()
    yield srv
    await srv.stop()


def poller(username: str = CHANNEL, *, base_url: str, interval: float = 0.01,
           max_backoff: float = 900.0, cursor: int | None = None,
           client: httpx.AsyncClient | None = None) -> Poller:
    fetcher = TelegramPublicFetcher("tg-public-1", username, base_url=base_url, client=client)
    # No jitter: these tests check exact waits; test_poller covers the jitter.
    schedule = Schedule(interval, jitter=0.0, max_backoff=max_backoff)
    return Poller(fetcher, schedule, cursor=str(cursor) if cursor is not None else None)


@pytest.fixture
async def make_source(server: PreviewServer) -> AsyncIterator[Callable[..., Poller]]:
    made: list[Poller] = []

    def make(username: str = CHANNEL, **kwargs: object) -> Poller:
        src = poller(username, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]
        made.append(src)
        return src

    yield make
    for src in made:
        await src.aclose()


@pytest.fixture
async def start_run() -> AsyncIterator[Callable[..., tuple[asyncio.Task[None], asyncio.Event]]]:
    """Start `src.run(emit, stop)` as a task; a test that fails midway still stops it."""
    runs: list[tuple[asyncio.Task[None], asyncio.Event]] = []

    def start(src: Poller, emit: Callable[[Post], Awaitable[None]]
              ) -> tuple[asyncio.Task[None], asyncio.Event]:
        stop = asyncio.Event()
        runs.append((asyncio.create_task(src.run(emit, stop)), stop))
        return runs[-1]

    yield start
    for task, stop in runs:
        stop.set()
        try:
            await asyncio.wait_for(task, 2)
        except TimeoutError:
            task.cancel()


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait for a condition, failing the test (not hanging it) if it never holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def ids(posts: list[Post]) -> list[int]:
    return [int(p.message_id) for p in posts]


def seconds_until(iso: str) -> float:
    return (datetime.fromisoformat(iso) - datetime.now(UTC)).total_seconds()


# parsing ------------------------------------------------------------------------------------


def test_parse_page_reads_posts_oldest_first() -> None:
    posts = parse_preview(PAGE1, CHANNEL, "src")
    # 97 is a pin (service message), 102 a photo without caption: neither is a post to match.
    assert ids(posts) == [98, 99, 100, 101, 103, 104]
    first = posts[0]
    assert first.source_id == "src" and first.platform == "telegram_public"
    assert first.chat == CHANNEL and first.message_id == "98"
    assert first.url == "https://t.me/kursk_frontline/98"
    assert first.date == datetime(2024, 11, 5, 7, 26, 49, tzinfo=UTC)
    assert first.text.startswith("Северокорейские военные замечены у Суджи")
    assert first.origin is None and first.edited is False


def test_parse_caption_forward_reply_and_signature() -> None:
    by_id = {int(p.message_id): p for p in parse_preview(PAGE1, CHANNEL, "src")}
    assert by_id[99].text == "Фото: колона техніки під Суджею, 5 листопада"
    assert by_id[100].origin == "Yonhap Wire 🇰🇷"
    assert by_id[100].text == '국정원 "북한군, 쿠르스크 전선 투입" & 추가 파병 가능성'
    # A reply quotes its parent; only the reply's own text belongs to the post.
    assert by_id[103].text == "Обновление: информация подтверждена двумя источниками."
    # The video's <time> is its duration, not the post date.
    assert by_id[104].date == datetime(2024, 11, 5, 12, 5, tzinfo=UTC)
    assert by_id[104].author == "Ivan K."


def test_text_keeps_breaks_links_and_emoji_but_no_markup() -> None:
    post = {int(p.message_id): p for p in parse_preview(PAGE1, CHANNEL, "src")}[101]
    assert post.text == ("⚡BREAKING: North Korean troops engaged near Sudzha\n\n"
                         "Sources: Reuters, @yonhap_wire\n#Kursk #DPRK 🔥")
    assert "<" not in post.text and "background-image" not in post.text


def test_blocks_and_link_previews() -> None:
    by_id = {int(p.message_id): p for p in parse_preview(PAGE2, CHANNEL, "src")}
    assert by_id[106].text == "Увага! Повітряна тривога в Сумській області.\nдеталі згодом"
    assert by_id[107].text == ("Statement of the ministry:\nWe have no information about "
                               "foreign troops.\nMake of it what you will.")
    # The link card's title/description are the linked page's words, not the post's.
    assert "explained" not in by_id[105].text
    assert by_id[105].text.endswith("example.org/analysis/dprk-kursk")
    assert 108 not in by_id  # a sticker


def test_unknown_or_garbage_pages_raise_source_error() -> None:
    with pytest.raises(SourceError, match="no public web preview"):
        parse_preview(UNKNOWN, "no_such_channel_xyz", "src")
    with pytest.raises(SourceError, match="not a channel preview"):
        parse_preview(GARBAGE, CHANNEL, "src")
    empty = PAGE1.split('<div class="tgme_widget_message_centered')[0] + "</section></body></html>"
    assert parse_preview(empty, CHANNEL, "src") == []  # a public channel with no posts yet


@pytest.mark.parametrize("raw", ["kursk_frontline", "@kursk_frontline",
                                 "https://t.me/s/kursk_frontline", "t.me/kursk_frontline/98"])
def test_normalize_username(raw: str) -> None:
    assert normalize_username(raw) == "kursk_frontline"


@pytest.mark.parametrize("raw", ["", "ab", "bad name", "1abc", "https://example.com/x"])
def test_normalize_username_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_username(raw)


# polling ------------------------------------------------------------------------------------


async def test_cursor_never_returns_a_post_twice(server: PreviewServer, make_source) -> None:
    src = make_source()
    first = await src.poll_once()
    assert ids(first) == [98, 99, 100, 101, 103, 104]
    assert src.cursor == "104"
    assert await src.poll_once() == []
    server.pages[""] = PAGE2  # newer page overlapping 103 and 104
    assert ids(await src.poll_once()) == [105, 106, 107, 109]
    assert src.cursor == "109"
    assert src.status()["ok"] is True and src.status()["posts"] == 10
    assert src.status()["last_error"] is None and src.status()["backoff_until"] is None


async def test_restart_with_cursor_and_gap_walks_back(server: PreviewServer,
                                                      make_source) -> None:
    server.pages = {"": PAGE2, "103": PAGE1}
    src = make_source(cursor=100)
    posts = await src.poll_once()
    assert ids(posts) == [101, 103, 104, 105, 106, 107, 109]
    assert server.requests == ["/s/kursk_frontline", "/s/kursk_frontline?before=103"]
    assert src.cursor == "109"


async def test_429_with_retry_after_backs_off(server: PreviewServer, make_source) -> None:
    server.replies.append((429, {"Retry-After": "120"}, "Too Many Requests"))
    src = make_source(interval=1.0)
    with pytest.raises(SourceError) as err:
        await src.poll_once()
    assert err.value.retry_after == 120
    health = src.status()
    assert health["ok"] is False and "429" in health["last_error"]
    assert 115 < seconds_until(health["backoff_until"]) <= 120
    assert src.cursor is None
    # The next good poll clears the backoff.
    assert len(await src.poll_once()) == 6
    assert src.status()["ok"] is True and src.status()["backoff_until"] is None
    assert src.status()["last_error"] is not None  # kept for /status as the last problem seen


async def test_retry_after_as_http_date(server: PreviewServer, make_source) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    server.replies.append((503, {"Retry-After": when}, "maintenance"))
    src = make_source(interval=1.0)
    with pytest.raises(SourceError):
        await src.poll_once()
    assert 290 < seconds_until(src.status()["backoff_until"]) <= 300


async def test_500_backs_off_exponentially_with_cap(server: PreviewServer, make_source) -> None:
    src = make_source(interval=1.0, max_backoff=5.0)
    waits = []
    for _ in range(4):
        server.replies.append((500, {}, "oops"))
        with pytest.raises(SourceError, match="HTTP 500"):
            await src.poll_once()
        waits.append(seconds_until(src.status()["backoff_until"]))
    assert [round(w) for w in waits] == [2, 4, 5, 5]


async def test_retry_after_is_read_only_on_429_and_503(server: PreviewServer,
                                                       make_source) -> None:
    server.replies.append((500, {"Retry-After": "3600"}, "oops"))
    src = make_source(interval=1.0)
    with pytest.raises(SourceError) as err:
        await src.poll_once()
    assert err.value.retry_after is None  # a 500's header is not a rate limit: our own backoff
    assert 1.5 < seconds_until(src.status()["backoff_until"]) <= 2


async def test_a_huge_page_is_a_failed_poll_not_a_full_memory(server: PreviewServer,
                                                              make_source) -> None:
    server.replies.append((200, {}, PAGE1 + "<!--" + "x" * (3 * 1024 * 1024) + "-->"))
    src = make_source()
    with pytest.raises(SourceError, match="larger than"):
        await src.poll_once()
    assert src.cursor is None and src.status()["failures"] == 1
    assert len(await src.poll_once()) == 6  # the next normal page is read as usual


async def test_garbage_page_is_a_health_error_not_posts(server: PreviewServer,
                                                        make_source) -> None:
    server.replies.append((200, {}, GARBAGE))
    src = make_source()
    with pytest.raises(SourceError, match="not a channel preview"):
        await src.poll_once()
    assert src.cursor is None and src.status()["posts"] == 0
    assert src.status()["ok"] is False and "not a channel preview" in src.status()["last_error"]


async def test_unknown_channel_is_reported(server: PreviewServer, make_source) -> None:
    src = make_source("no_such_channel_xyz")
    with pytest.raises(SourceError, match="no public web preview"):
        await src.poll_once()
    # A shared client that does not follow redirects gets the same answer.
    async with httpx.AsyncClient() as client:
        strict = make_source("no_such_channel_xyz", client=client)
        with pytest.raises(SourceError, match="no public web preview.*redirected"):
            await strict.poll_once()


async def test_given_client_is_not_closed(server: PreviewServer, make_source) -> None:
    async with httpx.AsyncClient() as client:
        src = make_source(client=client)
        stop = asyncio.Event()
        stop.set()
        await src.run(_collect([]), stop)
        assert not client.is_closed


async def test_connection_refused_is_a_source_error(make_source) -> None:
    src = poller(base_url="http://127.0.0.1:9/s/")
    try:
        with pytest.raises(SourceError):
            await src.poll_once()
        assert src.status()["ok"] is False and src.status()["backoff_until"] is not None
    finally:
        await src.aclose()


# run() --------------------------------------------------------------------------------------


def _collect(into: list[Post]) -> Callable[[Post], Awaitable[None]]:
    async def emit(post: Post) -> None:
        into.append(post)
    return emit


async def test_run_emits_each_post_once_and_stops(server: PreviewServer, make_source,
                                                  start_run) -> None:
    got: list[Post] = []
    src = make_source()
    task, stop = start_run(src, _collect(got))
    await until(lambda: len(got) == 6 and len(server.requests) >= 3)
    server.pages[""] = PAGE2
    await until(lambda: len(got) == 10)
    await until(lambda: len(server.requests) >= 6)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert ids(got) == [98, 99, 100, 101, 103, 104, 105, 106, 107, 109]
    assert src.cursor == "109" and src.status()["posts"] == 10 and src.status()["ok"] is True


async def test_run_survives_failures_then_recovers(server: PreviewServer, make_source,
                                                   start_run) -> None:
    server.replies.extend([(500, {}, "oops"), (200, {}, GARBAGE),
                           (429, {"Retry-After": "0"}, "slow down")])
    got: list[Post] = []
    src = make_source(interval=0.001, max_backoff=0.02)
    task, stop = start_run(src, _collect(got))
    await until(lambda: len(got) == 6)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert len(server.requests) >= 4 and src.status()["ok"] is True
    assert "429" in src.status()["last_error"]


async def test_run_retries_a_post_whose_emit_failed(server: PreviewServer, make_source,
                                                    start_run) -> None:
    got: list[Post] = []
    failures = {"99": 1}

    async def flaky(post: Post) -> None:
        if failures.get(post.message_id):
            failures[post.message_id] -= 1
            raise RuntimeError("database is locked")
        got.append(post)

    src = make_source(interval=0.001, max_backoff=0.01)
    task, stop = start_run(src, flaky)
    await until(lambda: len(got) == 6)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert ids(got) == [98, 99, 100, 101, 103, 104]  # 99 redelivered, nothing duplicated


async def test_run_skips_a_post_that_always_fails(server: PreviewServer, make_source,
                                                  start_run) -> None:
    got: list[Post] = []

    async def poisoned(post: Post) -> None:
        if post.message_id == "100":
            raise ValueError("cannot handle this one")
        got.append(post)

    src = make_source(interval=0.001, max_backoff=0.01)
    task, stop = start_run(src, poisoned)
    await until(lambda: len(got) == 5)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert ids(got) == [98, 99, 101, 103, 104] and src.cursor == "104"


async def test_run_stops_promptly_during_a_hanging_request(server: PreviewServer,
                                                          make_source, start_run) -> None:
    server.replies.append(None)
    src = make_source()
    task, stop = start_run(src, _collect([]))
    await until(lambda: len(server.requests) == 1)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert src.cursor is None


async def test_run_stops_promptly_during_a_long_backoff(server: PreviewServer,
                                                       make_source, start_run) -> None:
    server.replies.append((429, {"Retry-After": "3600"}, "Too Many Requests"))
    src = make_source()
    task, stop = start_run(src, _collect([]))
    await until(lambda: src.status()["backoff_until"] is not None)
    assert seconds_until(src.status()["backoff_until"]) > 3500
    stop.set()
    await asyncio.wait_for(task, 1)
    assert len(server.requests) == 1  # Retry-After was honoured: no second request
