"""This module contains tests of the polled-source supervisor over loopback HTTP.

`Pollers` runs as `wirewatch run` runs it, with the real store in a tmp dir and the real
pipeline, against a loopback t.me/s server whose channels answer, fail, hang or ask to wait.
Source intervals are at least 5 s, so every test here works with first polls (each comes
within the start jitter) and restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web

from bot.bootstrap import App
from bot.ports import SourceRecord
from bot.settings import parse_settings
from bot.sources.supervisor import Pollers
from tests.fakes.loopback import eventually, serve

DATA = Path(__file__).resolve().parents[1] / "data"
PAGE1 = (DATA / "tme_s_page1.html").read_text(encoding="utf-8")
PAGE2 = (DATA / "tme_s_page2.html").read_text(encoding="utf-8")

CONFIG = """
storage: {{path: {db}}}
sources:
  - {{id: good, platform: telegram_public, username: kursk_frontline, interval: 5, url: "{base}"}}
  - {{id: broken, platform: telegram_public, username: broken_channel, interval: 5, url: "{base}"}}
  - {{id: stuck, platform: telegram_public, username: hanging_channel, interval: 5, url: "{base}"}}
  - {{id: busy, platform: telegram_public, username: busy_channel, interval: 5, url: "{base}"}}
rooms:
  - id: terminal
    platform: console
    subscriptions:
      - {{id: kursk, query: 'entity:kursk'}}
"""


class Preview:
    """t.me on loopback: kursk_frontline serves `page`; the others fail in their own way."""

    def __init__(self) -> None:
        self.page = PAGE1
        self.hits: list[str] = []
        self.release = asyncio.Event()
        self.busy_until = datetime.now(UTC) + timedelta(hours=1)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits.append(name)
        if name == "broken_channel":
            return web.Response(status=500, text="oops")
        if name == "hanging_channel":
            await self.release.wait()
            return web.Response(status=504)
        if name == "busy_channel":
            return web.Response(status=503, text="maintenance", headers={
                "Retry-After": format_datetime(self.busy_until, usegmt=True)})
        return web.Response(text=self.page, content_type="text/html")


@pytest.fixture
async def preview() -> AsyncIterator[tuple[Preview, str]]:
    server = Preview()
    app = web.Application()
    app.router.add_get("/s/{name}", server.handle)
    runner, base = await serve(app)
    yield server, f"{base}/s/"
    server.release.set()
    await runner.cleanup()


@pytest.fixture
async def app(preview: tuple[Preview, str], tmp_path: Path) -> AsyncIterator[App]:
    _, base = preview
    opened = App.open(parse_settings(CONFIG.format(db=tmp_path / "s.db", base=base)))
    yield opened
    await opened.aclose()


class Supervised:
    """`Pollers.supervise` as a task, as `run` starts it."""

    def __init__(self, app: App) -> None:
        self.stop = asyncio.Event()
        self.pollers = Pollers(app, self.stop)
        self.task = asyncio.create_task(self.pollers.supervise(every=0.05))

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)  # a hanging fetch does not hold up the stop


def keys(app: App) -> list[str]:
    return sorted(p.post.message_id for p in app.store.recent_posts(limit=100))


async def test_failing_hanging_and_rate_limited_sources_never_stall_a_good_one(
        app: App, preview: tuple[Preview, str]) -> None:
    server, _ = preview
    run = Supervised(app)
    try:
        await eventually(lambda: app.store.count_posts() == 6, "the good channel's posts",
                         timeout=30)  # the first post loads the language models
        for failing in ("busy", "broken"):
            await eventually(lambda f=failing: app.health()["sources"][f]["failures"] >= 1,
                             f"{failing} failed", timeout=30)
        await eventually(lambda: "hanging_channel" in server.hits, "stuck polled", timeout=30)
        health = app.health()["sources"]
        assert health["stuck"]["posts"] == 0 and health["stuck"]["last_ok"] is None
    finally:
        await run.finish()
    assert health["good"]["ok"] is True and health["good"]["posts"] == 6
    assert health["broken"]["ok"] is False and "HTTP 500" in health["broken"]["last_error"]
    # The 503's Retry-After was an HTTP date an hour ahead: the next try waits for it.
    busy = health["busy"]
    retry_at = datetime.fromisoformat(busy["backoff_until"])
    assert abs((retry_at - server.busy_until).total_seconds()) < 5
    assert "HTTP 503" in busy["last_error"]
    assert app.store.get_cursor("good") == "104"
    assert app.store.get_cursor("broken") is None and app.store.get_cursor("stuck") is None


async def test_the_cursor_survives_a_stop_and_nothing_is_ingested_twice(
        app: App, preview: tuple[Preview, str]) -> None:
    server, _ = preview
    run = Supervised(app)
    await eventually(lambda: app.store.get_cursor("good") == "104", "the first poll", timeout=30)
    await run.finish()
    first = keys(app)
    assert first == ["100", "101", "103", "104", "98", "99"]
    server.page = PAGE2  # 103 and 104 again, then 105..109
    hits = server.hits.count("kursk_frontline")
    run = Supervised(app)
    await eventually(lambda: app.store.get_cursor("good") == "109", "the poll after restart",
                     timeout=30)
    await run.finish()
    assert server.hits.count("kursk_frontline") == hits + 1  # one page: no walk back needed
    assert keys(app) == sorted(first + ["105", "106", "107", "109"])
    alerted = [item.alert.post.message_id for item in app.store.alerts_for_room("terminal", 100)]
    assert alerted and len(alerted) == len(set(alerted))  # no post alerted twice


async def test_sources_follow_the_store_without_a_restart(
        app: App, preview: tuple[Preview, str]) -> None:
    server, base = preview
    for source_id in ("good", "broken", "stuck", "busy"):
        app.store.remove_source(source_id)
    run = Supervised(app)
    try:
        await asyncio.sleep(0.15)
        assert run.pollers.running == {} and server.hits == []
        # `/sources add`: polled at the next reconcile; the settings entry gives the base URL
        app.store.add_source(SourceRecord("good", "telegram_public", "kursk_frontline"))
        await eventually(lambda: app.store.get_cursor("good") == "104", "the added source",
                         timeout=30)
        assert app.health()["sources"]["good"]["posts"] == 6
        # another address under the same id: the old poller stops, the new one starts afresh
        old = run.pollers.running["good"].task
        app.store.remove_source("good")
        app.store.add_source(SourceRecord("good", "telegram_public", "broken_channel"))
        await eventually(lambda: old.done() and "good" in run.pollers.running, "the restart",
                         timeout=30)
        await eventually(lambda: app.health()["sources"]["good"]["failures"] >= 1, "new health",
                         timeout=30)
        status = app.health()["sources"]["good"]
        assert status["posts"] == 0 and "HTTP 500" in status["last_error"]
        assert app.store.get_cursor("good") is None  # the old channel's position is not kept
        # `/sources remove`: stopped, and gone from /status
        app.store.remove_source("good")
        await eventually(lambda: not run.pollers.running, "the removal", timeout=30)
        assert "good" not in app.health()["sources"]
    finally:
        await run.finish()


async def test_unpollable_records_are_skipped_and_the_rest_keeps_going(app: App) -> None:
    app.store.add_source(SourceRecord("feed", "rss", "not a feed address"))
    app.store.add_source(SourceRecord("odd", "telegram_public", "not/a/channel"))
    app.store.add_source(SourceRecord("chat", "discord", "12345678"))
    run = Supervised(app)
    try:
        await eventually(lambda: app.store.get_cursor("good") == "104", "the good channel",
                         timeout=30)
        assert set(run.pollers.running) == {"good", "broken", "stuck", "busy"}
        assert not run.task.done()
    finally:
        await run.finish()
