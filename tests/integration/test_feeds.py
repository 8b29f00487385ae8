"""This module contains tests of the `rss` fetcher over loopback HTTP with real-shaped documents.

A loopback aiohttp server serves the RSS 2.0, Atom and JSON Feed files in tests/data/feeds and
misbehaves on demand (broken XML, 304, 500, 429 with Retry-After, a 301, a huge body, repeated
items, changed GUIDs); the real `FeedFetcher` and the generic `Poller` read it with httpx.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.errors import SourceError
from bot.sources.feedparse import FeedError
from bot.sources.poller import Poller
from bot.sources.rss import FeedFetcher
from tests.fakes.loopback import serve

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
RSS = (DATA / "rss2.xml").read_bytes()
ATOM = (DATA / "atom.xml").read_bytes()
JSON = (DATA / "feed.json").read_bytes()


def rss(*items: tuple[str | None, str, str]) -> bytes:
    """An RSS 2.0 document of (guid, link, title) items, newest first, with relative links."""
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link>"
        + (f"<guid isPermaLink=\"false\">{guid}</guid>" if guid else "")
        + f"<description>&lt;p&gt;About {title}&lt;/p&gt;</description></item>"
        for guid, link, title in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Test</title>'
            f"<link>https://site.example/</link><description>t</description>{body}"
            f"</channel></rss>").encode()


class FeedServer:
    """Serves `docs[name]`; `mode[name]` makes it answer otherwise."""

    def __init__(self) -> None:
        self.docs: dict[str, bytes] = {"rss": RSS, "atom": ATOM, "json": JSON}
        self.mode: dict[str, str] = {}
        self.hits: list[tuple[str, dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits.append((name, dict(request.headers)))
        mode = self.mode.get(name, "")
        if mode == "500":
            return web.Response(status=500, text="oops")
        if mode == "429":
            return web.Response(status=429, headers={"Retry-After": "120"})
        if mode == "moved":
            raise web.HTTPMovedPermanently(location="/feeds/rss")
        if mode == "found":
            raise web.HTTPFound(location="/feeds/rss")
        if mode == "huge":
            return web.Response(body=b"<rss>" + b"x" * (3 * 1024 * 1024), content_type="text/xml")
        if mode == "broken":
            return web.Response(body=(DATA / "broken.xml").read_bytes(), content_type="text/xml")
        body = self.docs[name]
        etag = f'"{hash(body) & 0xffffff:x}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag, "Cache-Control": "max-age=900"})
        headers = {"ETag": etag, "Cache-Control": "max-age=900"}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=gzip.compress(body), content_type="application/xml",
                                headers={**headers, "Content-Encoding": "gzip"})
        return web.Response(body=body, content_type="application/xml", headers=headers)


@pytest.fixture
async def server() -> AsyncIterator[tuple[FeedServer, str]]:
    feeds = FeedServer()
    app = web.Application()
    app.router.add_get("/feeds/{name}", feeds.handle)
    runner, base = await serve(app)
    yield feeds, f"{base}/feeds/"
    await runner.cleanup()


async def poll(fetcher: FeedFetcher, cursor: str | None = None) -> tuple[list, Poller]:
    poller = Poller(fetcher, cursor=cursor)
    posts = await poller.poll_once()
    return posts, poller


async def test_first_poll_records_the_backlog_and_alerts_only_what_comes_later(
        server: tuple[FeedServer, str]) -> None:
    feeds, base = server
    feeds.docs["t"] = rss(("g1", "/a", "One"), ("g0", "/z", "Zero"))
    fetcher = FeedFetcher("t", base + "t")
    try:
        first, poller = await poll(fetcher)
        assert first == []  # a new feed does not flood rooms with its backlog
        feeds.docs["t"] = rss(("g2", "/b", "Two"), ("g1", "/a", "One"), ("g0", "/z", "Zero"))
        posts = await poller.poll_once()
        assert [p.text for p in posts] == ["Two\n\nAbout Two"]
        assert posts[0].url == "https://site.example/b"  # the relative link resolved
        assert await poller.poll_once() == []  # 304 now: nothing again
        assert feeds.hits[-1][1].get("If-None-Match")
        assert "gzip" in feeds.hits[-1][1].get("Accept-Encoding", "")  # served compressed
    finally:
        await fetcher.aclose()


@pytest.mark.parametrize(("name", "count", "title"), [
    ("rss", 3, "North Korean troops seen near Kursk"),
    ("atom", 2, "Sanctions expanded"),
    ("json", 2, "Kursk governor statement"),
])
async def test_backfill_alerts_the_newest_items_of_each_format(
        server: tuple[FeedServer, str], name: str, count: int, title: str) -> None:
    _, base = server
    fetcher = FeedFetcher(name, base + name, backfill=10)
    try:
        posts, _ = await poll(fetcher)
    finally:
        await fetcher.aclose()
    assert len(posts) == count and fetcher.last_feed is not None
    newest = posts[-1]  # oldest first
    assert newest.text.startswith(title) and "<" not in newest.text
    assert newest.url and newest.url.startswith("https://") and newest.author
    assert all(p.platform == "rss" and p.date for p in posts)
    assert len({p.message_id for p in posts}) == count


async def test_backfill_takes_only_the_newest_n(server: tuple[FeedServer, str]) -> None:
    _, base = server
    fetcher = FeedFetcher("rss", base + "rss", backfill=1)
    try:
        posts, _ = await poll(fetcher)
    finally:
        await fetcher.aclose()
    assert [p.text.split("\n")[0] for p in posts] == ["North Korean troops seen near Kursk"]


async def test_a_changed_guid_with_the_same_link_and_title_is_not_new(
        server: tuple[FeedServer, str]) -> None:
    feeds, base = server
    feeds.docs["t"] = rss(("g1", "/a", "One"))
    fetcher = FeedFetcher("t", base + "t")
    try:
        _, poller = await poll(fetcher)
        feeds.docs["t"] = rss(("NEW-g1", "/a", "One"), ("g9", "/a", "Another story, same link"))
        posts = await poller.poll_once()
    finally:
        await fetcher.aclose()
    # the republished GUID is the same item; a different title behind the same link is not
    assert [p.text.split("\n")[0] for p in posts] == ["Another story, same link"]


async def test_items_without_guid_and_repeated_items_alert_once(
        server: tuple[FeedServer, str]) -> None:
    feeds, base = server
    feeds.docs["t"] = rss((None, "/a", "One"))
    fetcher = FeedFetcher("t", base + "t")
    try:
        _, poller = await poll(fetcher)
        feeds.docs["t"] = rss((None, "/b", "Two"), (None, "/b", "Two"), (None, "/a", "One"),
                              (None, "/a", "One"))
        posts = await poller.poll_once()
        feeds.docs["t"] = rss((None, "/b", "Two"), (None, "/a", "One"))
        again = await poller.poll_once()
    finally:
        await fetcher.aclose()
    assert [p.url for p in posts] == ["https://site.example/b"] and again == []


async def test_an_updated_item_is_an_edit_of_the_same_post(server: tuple[FeedServer, str]) -> None:
    feeds, base = server
    feeds.docs["t"] = rss(("g1", "/a", "One"))
    fetcher = FeedFetcher("t", base + "t", backfill=1)
    try:
        (first,), poller = await poll(fetcher)
        feeds.docs["t"] = rss(("g1", "/a", "One, updated"))
        (edit,) = await poller.poll_once()
    finally:
        await fetcher.aclose()
    assert edit.key == first.key and edit.edited and "updated" in edit.text


async def test_a_restart_in_the_middle_of_a_batch_emits_only_the_rest(
        server: tuple[FeedServer, str]) -> None:
    feeds, base = server
    feeds.docs["t"] = rss(("g0", "/z", "Zero"))
    fetcher = FeedFetcher("t", base + "t")
    try:
        _, poller = await poll(fetcher)
        feeds.docs["t"] = rss(("g3", "/c", "Three"), ("g2", "/b", "Two"), ("g1", "/a", "One"),
                              ("g0", "/z", "Zero"))
        batch = await fetcher.fetch(poller.cursor)
        assert [p.text.split("\n")[0] for p, _ in batch.items] == ["One", "Two", "Three"]
        _, after_one = batch.items[0]  # the process stops once "One" was handed over
        rest = await fetcher.fetch(after_one)  # the restarted poller reads from there
        assert [p.text.split("\n")[0] for p, _ in rest.items] == ["Two", "Three"]
        assert '"e"' not in after_one  # no validators mid-batch: no 304 hides the rest
        assert await fetcher.fetch(rest.cursor) == type(rest)([], None, 900.0)  # 304
    finally:
        await fetcher.aclose()


async def test_broken_xml_500_and_html_are_a_failed_poll_with_the_reason(
        server: tuple[FeedServer, str]) -> None:
    feeds, base = server
    feeds.mode["rss"] = "broken"
    feeds.docs["page"] = (DATA / "notfeed.html").read_bytes()
    fetcher = FeedFetcher("rss", base + "rss")
    poller = Poller(fetcher)
    try:
        with pytest.raises(FeedError, match="malformed feed"):
            await poller.poll_once()
        feeds.mode["rss"] = "500"
        with pytest.raises(SourceError, match="HTTP 500"):
            await poller.poll_once()
        assert poller.status()["failures"] == 2 and "HTTP 500" in poller.status()["last_error"]
        with pytest.raises(FeedError, match="not|malformed"):
            await FeedFetcher("page", base + "page", client=fetcher._http()).fetch(None)
        feeds.mode.clear()
        await poller.poll_once()
        assert poller.status()["ok"] and poller.status()["failures"] == 0
    finally:
        await fetcher.aclose()


async def test_429_carries_retry_after_and_a_huge_body_is_not_read(
        server: tuple[FeedServer, str]) -> None:
    feeds, base = server
    fetcher = FeedFetcher("rss", base + "rss", max_bytes=1024 * 1024)
    try:
        feeds.mode["rss"] = "429"
        with pytest.raises(SourceError) as caught:
            await fetcher.fetch(None)
        assert caught.value.retry_after == 120.0
        feeds.mode["rss"] = "huge"
        with pytest.raises(SourceError, match="larger than"):
            await fetcher.fetch(None)
    finally:
        await fetcher.aclose()


async def test_a_permanent_redirect_moves_the_feed_and_a_temporary_one_does_not(
        server: tuple[FeedServer, str]) -> None:
    feeds, base = server
    feeds.mode["old"] = "found"
    fetcher = FeedFetcher("old", base + "old")
    try:
        batch = await fetcher.fetch(None)
        assert fetcher.moved_to is None and '"u":"' + base + 'old"' in batch.cursor  # type: ignore[operator]
        feeds.mode["old"] = "moved"
        batch = await fetcher.fetch(None)
        assert fetcher.moved_to == base + "rss"
        assert '"u":"' + base + 'rss"' in batch.cursor  # type: ignore[operator]
        hits = len(feeds.hits)
        await fetcher.fetch(batch.cursor)  # goes straight to the new address
        assert [h[0] for h in feeds.hits[hits:]] == ["rss"]
        assert batch.wait == 900.0  # Cache-Control: max-age
    finally:
        await fetcher.aclose()


async def test_feeds_of_one_host_never_have_more_than_the_limit_in_flight() -> None:
    import asyncio

    from bot.sources.rss import HostLimiter

    in_flight, peak = 0, 0

    async def slow(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(body=rss(("g", "/a", "A")), content_type="application/xml")

    app = web.Application()
    app.router.add_get("/f/{n}", slow)
    runner, base = await serve(app)
    limiter = HostLimiter(per_host=3)
    fetchers = [FeedFetcher(f"f{n}", f"{base}/f/{n}", limiter=limiter) for n in range(12)]
    try:
        await asyncio.gather(*(f.fetch(None) for f in fetchers))
    finally:
        for f in fetchers:
            await f.aclose()
        await runner.cleanup()
    assert peak == 3


async def test_the_kept_identities_stay_bounded_per_feed(server: tuple[FeedServer, str]) -> None:
    import json

    feeds, base = server
    fetcher = FeedFetcher("t", base + "t", keep=10)
    cursor = None
    try:
        for start in range(0, 40, 4):  # 4 new items a poll, 40 in all; the feed shows 6
            feeds.docs["t"] = rss(*((f"g{n}", f"/n/{n}", f"Item {n}")
                                    for n in range(start + 5, start - 1, -1)))
            batch = await fetcher.fetch(cursor)
            cursor = batch.cursor
    finally:
        await fetcher.aclose()
    assert cursor is not None and len(json.loads(cursor)["s"]) == 12  # max(keep, 2 × shown)
