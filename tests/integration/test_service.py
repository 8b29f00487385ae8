"""`wirewatch run`: a polled public channel into a console room, and a clean stop."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from aiohttp import web

from bot.bootstrap import App
from bot.service import run
from bot.settings import parse_settings
from bot.storage.sqlite import SQLiteStore
from handlers import Request, dispatch
from tests.fakes.loopback import serve

DATA = Path(__file__).resolve().parents[1] / "data"

CONFIG = """
storage: {{path: {db}}}
sources:
  - {{id: frontline, platform: telegram_public, username: kursk_frontline, interval: 5,
      url: "{base}"}}
rooms:
  - id: terminal
    platform: console
    language: en
    subscriptions:
      - {{id: kursk, query: 'entity:kursk'}}
"""


async def serve_preview(hits):
    page = (DATA / "tme_s_page1.html").read_text(encoding="utf-8")

    async def handler(request):
        hits.append(request.path_qs)
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/s/{name}", handler)
    runner, base = await serve(app)
    return runner, f"{base}/s/"


async def test_public_channel_posts_become_console_alerts(tmp_path, capsys):
    hits = []
    runner, base = await serve_preview(hits)
    db = tmp_path / "run.db"
    settings = parse_settings(CONFIG.format(db=db, base=base))
    stop = asyncio.Event()
    app = App.open(settings)
    task = asyncio.create_task(run(settings, stop=stop, app=app))
    try:
        for _ in range(200):
            store = SQLiteStore(db) if db.exists() else None
            counts = store.outbox_counts() if store else {"sent": 0, "pending": 0}
            # Posts are ingested one by one: wait for the last (its cursor) and its delivery.
            done = store is not None and store.get_cursor("frontline") == "104"
            if store:
                store.close()
            if done and counts["sent"] and not counts["pending"]:
                break
            await asyncio.sleep(0.05)
        status = await dispatch(Request("status", "", "console", "terminal", "1"), app.services)
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
    finally:
        stop.set()
        await runner.cleanup()
    out = capsys.readouterr().out
    assert "Source frontline: ok, " in status.text  # the poller's health, for /status
    assert "room: terminal (en)" in out and "matched: kursk" in out
    assert "https://t.me/kursk_frontline/" in out
    store = SQLiteStore(db)
    assert store.get_cursor("frontline") == "104"  # position kept for the next start
    assert store.outbox_counts()["pending"] == 0
    store.close()
    assert hits and hits[0].startswith("/s/kursk_frontline")


def test_sigterm_stops_the_process_cleanly(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("storage: {path: %s}\nrooms:\n  - {id: t, platform: console}\n" % (tmp_path / "s.db"))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in proc.stderr:
            if "wirewatch running" in line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    assert (tmp_path / "s.db").exists()


def test_run_without_token_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text("storage: {path: %s}\ntelegram: {}\nrooms:\n"
                      "  - {id: t, platform: telegram, chat: -100}\n" % (tmp_path / "s.db"))
    result = subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr


async def test_sources_added_and_removed_in_chat_are_polled_without_a_restart(tmp_path):
    from bot.ports import SourceRecord
    from bot.service import Pollers

    hits = []
    runner, base = await serve_preview(hits)
    settings = parse_settings(CONFIG.format(db=tmp_path / "p.db", base=base))
    app = App.open(settings)
    app.store.remove_source("frontline")  # start with nothing polled
    stop = asyncio.Event()
    pollers = Pollers(app, stop)
    task = asyncio.create_task(pollers.supervise(every=0.05))
    try:
        await asyncio.sleep(0.2)
        assert hits == [] and pollers.running == {}
        # what `/sources add` stores: polled at the next reconcile (this settings entry gives
        # the loopback base; a chat-added one would use t.me)
        app.store.add_source(SourceRecord("frontline", "telegram_public", "kursk_frontline"))
        for _ in range(100):
            if hits:
                break
            await asyncio.sleep(0.05)
        assert hits and "frontline" in pollers.running
        app.store.remove_source("frontline")
        for _ in range(100):
            if not pollers.running:
                break
            await asyncio.sleep(0.05)
        assert pollers.running == {} and "frontline" not in app.source_health
        # removed and added again under the same id with another channel: the old poller
        # stops, the new one starts, and the old channel's position is not carried over
        app.store.add_source(SourceRecord("frontline", "telegram_public", "kursk_frontline"))
        for _ in range(100):
            if "frontline" in pollers.running:
                break
            await asyncio.sleep(0.05)
        first = pollers.running["frontline"][2]
        app.store.remove_source("frontline")
        app.store.add_source(SourceRecord("frontline", "telegram_public", "other_channel"))
        for _ in range(100):
            if first.done() and "frontline" in pollers.running:
                break
            await asyncio.sleep(0.05)
        assert first.done() and pollers.running["frontline"][0].address == "other_channel"
        for _ in range(100):
            if any(h.startswith("/s/other_channel") for h in hits):
                break
            await asyncio.sleep(0.05)
        assert any(h.startswith("/s/other_channel") for h in hits)
        bad = SourceRecord("broken", "telegram_public", "not/a/channel")  # stored before validation
        app.store.add_source(bad)
        await asyncio.sleep(0.2)  # skipped with a log line, the supervisor keeps going
        assert "broken" not in pollers.running and not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await runner.cleanup()
        await app.aclose()
