"""This module contains tests of feeds inside wirewatch: polled by the supervisor into the
pipeline, added from chat with `/sources add <id> rss <url>`, imported and exported as OPML.

Everything runs for real over loopback: the aiohttp feed server, httpx, feedparser-rs, the
SQLite store in a tmp dir, the pipeline and the outbox. Feed intervals are 5 s and a feed's
first poll comes within one interval, so the supervisor test waits a few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.bootstrap import App
from bot.cli_sources import export_opml, import_opml, unique_id
from bot.errors import UserError
from bot.settings import parse_settings
from bot.sources.supervisor import Pollers
from handlers.admin import sources as sources_command
from handlers.request import Request
from tests.fakes.loopback import eventually, serve

CONFIG = """
storage: {{path: {db}}}
sources:
  - {{id: wire, platform: rss, url: "{base}old", interval: 5, backfill: 1}}
rooms:
  - id: terminal
    platform: console
    subscriptions:
      - {{id: kursk, query: 'entity:kursk'}}
"""


def document(*titles: str) -> bytes:
    items = "".join(f"<item><title>{t}</title><link>/news/{i}</link><guid>id-{i}</guid>"
                    f"<description>{t} — report.</description></item>"
                    for i, t in reversed(list(enumerate(titles))))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire Desk</title>'
            f"<link>https://wire.example/</link><description>d</description>{items}"
            f"</channel></rss>").encode()


class Feeds:
    def __init__(self) -> None:
        self.body = document("Weather in Paris", "Troops advance in the Kursk region")
        self.hits: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits.append(name)
        if name == "old":
            raise web.HTTPPermanentRedirect(location="/feeds/new")
        if name == "broken":
            return web.Response(body=b"<rss><channel><item>", content_type="text/xml")
        if name == "missing":
            return web.Response(status=404, text="no")
        return web.Response(body=self.body, content_type="application/rss+xml")


@pytest.fixture
async def feeds() -> AsyncIterator[tuple[Feeds, str]]:
    server = Feeds()
    app = web.Application()
    app.router.add_get("/feeds/{name}", server.handle)
    runner, base = await serve(app)
    yield server, f"{base}/feeds/"
    await runner.cleanup()


@pytest.fixture
async def app(feeds: tuple[Feeds, str], tmp_path: Path) -> AsyncIterator[App]:
    _, base = feeds
    opened = App.open(parse_settings(CONFIG.format(db=tmp_path / "f.db", base=base)))
    yield opened
    await opened.aclose()


def alerted(app: App) -> list[str]:
    return [item.alert.post.text.split("\n")[0]
            for item in app.store.alerts_for_room("terminal", 100)]


async def supervise(app: App, until, what: str) -> None:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    task = asyncio.create_task(Pollers(app, stop).supervise(every=0.05))
    try:
        await eventually(until, what, timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_feed_alerts_its_backfill_follows_a_move_and_never_repeats_after_restart(
        app: App, feeds: tuple[Feeds, str]) -> None:
    server, base = feeds
    await supervise(app, lambda: server.hits.count("new") >= 2, "two polls of the moved feed")
    # backfill: 1 alerted the newest item only; the 308 moved the stored address, and the
    # poller restarted on it from the stored cursor without alerting anything again
    assert alerted(app) == ["Troops advance in the Kursk region"]
    (record,) = app.store.sources()
    assert record.address == base + "new" and record.cursor and '"u"' in record.cursor
    assert app.store.count_posts() == 1
    server.body = document("Weather in Paris", "Troops advance in the Kursk region",
                           "Kursk governor: shelling overnight")
    await supervise(app, lambda: len(alerted(app)) == 2, "the new item after a restart")
    assert sorted(alerted(app)) == ["Kursk governor: shelling overnight",
                                    "Troops advance in the Kursk region"]  # each once
    stored = app.store.recent_posts(limit=5)[0].post
    assert stored.url == "https://wire.example/news/2" and stored.platform == "rss"
    assert app.health()["sources"]["wire"]["ok"] is True


def ask(args: str, *, operator: bool = True) -> Request:
    return Request(command="sources", args=args, platform="telegram", chat="-100", user_id="7",
                   is_moderator=True, is_operator=operator)


async def test_sources_add_rss_fetches_once_and_answers_with_title_or_reason(
        app: App, feeds: tuple[Feeds, str]) -> None:
    _, base = feeds
    assert app.services is not None
    reply = await sources_command(ask(f"add desk rss {base}good"), app.services)
    assert "Wire Desk" in reply.text and "2 items" in reply.text and not reply.error
    assert [s.address for s in app.store.sources() if s.id == "desk"] == [base + "good"]
    for name, reason in (("broken", "malformed feed"), ("missing", "HTTP 404")):
        reply = await sources_command(ask(f"add {name} rss {base}{name}"), app.services)
        assert reply.error and reason in reply.text
    reply = await sources_command(ask("add odd rss ftp://x/feed"), app.services)
    assert reply.error and "http(s)" in reply.text
    moved = await sources_command(ask(f"add moved rss {base}old"), app.services)
    assert base + "new" in moved.text  # the address after the permanent redirect is stored
    assert {s.id for s in app.store.sources()} == {"wire", "desk", "moved"}


def test_opml_import_adds_new_feeds_and_export_writes_them_back(
        tmp_path: Path, app: App) -> None:
    opml = tmp_path / "list.opml"
    opml.write_text("""<?xml version="1.0"?><opml version="2.0"><head><title>Desk</title></head>
<body><outline text="Wires"><outline type="rss" text="Kursk Wire" xmlUrl="https://a.example/rss"/>
<outline type="rss" text="Агентство" xmlUrl="https://b.example/atom.xml"/></outline>
<outline type="rss" text="Kursk Wire" xmlUrl="https://c.example/feed.json"/>
<outline type="rss" text="Again" xmlUrl="https://a.example/rss"/></body></opml>""",
                    encoding="utf-8")
    out = tmp_path / "out.txt"
    with out.open("w") as fh:
        import_opml(app.store, opml, fh)
    assert "3 feeds added, 0 skipped, from 3" in out.read_text()  # the repeated URL once
    rss = {s.id: s.address for s in app.store.sources() if s.id != "wire"}
    assert rss == {"kursk_wire": "https://a.example/rss", "kursk_wire_2": "https://c.example/feed.json",
                   "feed": "https://b.example/atom.xml"}
    exported = tmp_path / "export.opml"
    exported.write_text(export_opml(app.store), encoding="utf-8")
    with out.open("w") as fh:
        import_opml(app.store, exported, fh)  # a round trip adds nothing
    assert "0 feeds added, 4 skipped" in out.read_text()
    bad = tmp_path / "bad.opml"
    bad.write_text("<html>no</html>")
    with pytest.raises(UserError, match="no feeds"):
        import_opml(app.store, bad, out.open("w"))
    assert unique_id("123 News", set()) == "feed_123_news"


def test_the_sources_command_line_imports_and_exports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    config = tmp_path / "ww.yaml"
    config.write_text(f"storage: {{path: {tmp_path / 'cli.db'}}}\n", encoding="utf-8")
    opml = tmp_path / "in.opml"
    opml.write_text('<opml version="1.0"><body><outline type="rss" text="Desk" '
                    'xmlUrl="https://desk.example/rss"/></body></opml>', encoding="utf-8")
    assert main(["sources", "import", str(opml), "--config", str(config)]) == 0
    assert "1 feeds added" in capsys.readouterr().out
    assert main(["sources", "export", "--config", str(config)]) == 0
    assert 'xmlUrl="https://desk.example/rss"' in capsys.readouterr().out
    assert main(["sources", "import", str(tmp_path / "none.opml"), "--config", str(config)]) == 1
    assert "cannot read" in capsys.readouterr().err


async def test_a_silent_source_is_flagged_in_status_and_said_once_in_its_rooms(
        app: App, feeds: tuple[Feeds, str]) -> None:
    from datetime import timedelta
    from io import StringIO

    from rich.console import Console

    from bot.model import Analysis, Post, utcnow
    from bot.platforms.console import ConsolePlatform
    from handlers.info import status

    last = utcnow() - timedelta(hours=6)
    for n in range(10):  # its history: a post every 30 minutes, the last one 6 h ago
        app.store.save_post(Post("wire", "rss", "wire", f"old{n}", f"report {n}",
                                 date=last - timedelta(minutes=30 * (9 - n))), Analysis())
    screen = StringIO()
    console = ConsolePlatform(app.engine.renderer, Console(file=screen, width=200))
    app.attach({"console": console})
    stop = asyncio.Event()
    task = asyncio.create_task(Pollers(app, stop).supervise(every=0.05, watch_every=0.1))
    try:
        await eventually(lambda: console.sent, "the silence notice", timeout=10)
        await asyncio.sleep(0.3)  # more checks: still one notice
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert len(console.sent) == 1 and "Source wire is silent" in screen.getvalue()
    assert "usually every 30m" in app.health()["silence"]["wire"]
    assert app.services is not None
    reply = await status(ask(""), app.services)
    assert "⚠️ Source wire silent: nothing for 6h" in reply.text


async def test_an_updated_feed_item_takes_the_edit_path_of_the_pipeline(
        app: App, feeds: tuple[Feeds, str]) -> None:
    from bot.sources.supervisor import make_poller

    server, base = feeds
    (record,) = app.store.sources()
    poller = make_poller(app, record)
    assert poller is not None
    try:
        batch = await poller.fetcher.fetch(None)  # backfill: 1, the Kursk item
        for post, _ in batch.items:
            assert await app.ingest(post) is not None
        (first,) = [p for p, _ in batch.items]
        assert len(alerted(app)) == 1
        server.body = document("Weather in Paris",
                               "Troops advance in the Kursk region, officials confirm")
        update = await poller.fetcher.fetch(batch.cursor)
        (edit,) = [p for p, _ in update.items]
        assert edit.key == first.key and edit.edited
        assert await app.ingest(edit) is not None
    finally:
        await poller.aclose()
    stored = app.store.get_post(first.key)
    assert stored is not None and "officials confirm" in stored.post.text
    # not a second alert: the queued one now carries the updated text
    assert alerted(app) == ["Troops advance in the Kursk region, officials confirm"]


async def test_thousands_of_pollers_read_the_source_table_once_per_change(app: App) -> None:
    from bot.ports import SourceRecord
    from bot.sources.supervisor import make_poller

    for n in range(200):
        app.store.add_source(SourceRecord(f"f{n}", "rss", f"https://feeds{n}.example/rss"))
    reads = 0
    real = app.store.sources

    def counted() -> list[SourceRecord]:
        nonlocal reads
        reads += 1
        return real()

    records = real()
    app.store.sources = counted  # type: ignore[method-assign]  # count the table reads
    pollers = [make_poller(app, r) for r in records]
    for poller in pollers:
        assert poller is not None
        poller._save("{}")  # type: ignore[misc]  # each saves a cursor
    assert reads == 1 and app.store.get_cursor("f199") == "{}"
