"""Alerts follow stories through the real relay: one alert per story, later reports edit it.

The pipeline groups (near-duplicates only here: no model needed), the outbox carries the
update, and the console and webhook platforms show it."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from rich.console import Console

from bot.bootstrap import build_engine
from bot.model import Post, Room, Subscription
from bot.pipeline.runner import Pipeline
from bot.pipeline.stories import Stories
from bot.platforms.console import ConsolePlatform
from bot.platforms.webhook import WebhookPlatform
from bot.relay import Relay
from bot.settings import Settings
from bot.storage.sqlite import SQLiteStore
from bot.stories import StoryConfig, StoryGrouper
from tests.fakes.loopback import serve

T0 = datetime(2024, 11, 5, 7, 0, tzinfo=UTC)
WIRE = ("Жилая многоэтажка эвакуирована в Лобне из-за противопехотной мины под полом у одного из "
        "жильцов. Житель дома на улице Научный городок вскрыл пол в своей квартире и обнаружил "
        "мину, вызваны саперы, эвакуированы 38 человек в Курской области.")


@pytest.fixture(scope="module")
def engine():
    return build_engine(Settings())


def post(source: str, mid: int, text: str, minutes: float = 0) -> Post:
    return Post(source, "telegram", "-100" + source, str(mid), text,
                date=T0 + timedelta(minutes=minutes), url=f"https://t.me/{source}/{mid}")


def pipeline_for(store, engine, interval: float) -> Pipeline:
    store.add_subscription(Subscription("kursk", "newsroom", "entity:kursk"))
    return Pipeline(store, engine.analyzer,
                    Stories(StoryGrouper(StoryConfig(use_embeddings=False)), edit_interval=interval))


async def test_console_prints_one_alert_and_an_update_line_per_new_source(engine, tmp_path):
    store = SQLiteStore(tmp_path / "c.db")
    store.upsert_room(Room("newsroom", "console", "newsroom", None, "ru"))
    pipeline = pipeline_for(store, engine, interval=0.2)
    buffer = io.StringIO()
    console = ConsolePlatform(engine.renderer, Console(file=buffer, width=200, highlight=False))
    relay = Relay(store, {"console": console}, None, worker="w")
    pipeline.process(post("a", 1, WIRE))
    await relay.deliver_due()
    for i, source in enumerate(("b", "c")):  # a burst of copies
        pipeline.process(post(source, 7, WIRE + f"\n\n{source}: подписаться", 3 + i))
    assert await relay.apply_updates() == 0  # coalesced: not yet
    await asyncio.sleep(0.25)
    assert await relay.apply_updates() == 1  # one edit for the burst
    assert await relay.deliver_due() == 0  # no second alert
    out = buffer.getvalue()
    assert len(console.sent) == 1
    assert "story update, alert #1: +2 sources; new: b https://t.me/b/7" in out
    assert "story update, alert #1: +2 sources; new: c https://t.me/c/7" in out
    # a restart of the relay (a new process) finds nothing left to apply: applied once
    again = Relay(SQLiteStore(tmp_path / "c.db"), {"console": console}, None, worker="w2")
    assert await again.apply_updates() == 0
    store.close()


async def test_webhook_gets_an_update_event_with_the_story(engine, tmp_path, monkeypatch):
    got: list[dict] = []

    async def handler(request):
        got.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner, base = await serve(app)
    monkeypatch.setenv("DESK_HOOK", f"{base}/hook")
    store = SQLiteStore(tmp_path / "w.db")
    store.upsert_room(Room("newsroom", "webhook", "DESK_HOOK", None, "ru"))
    pipeline = pipeline_for(store, engine, interval=0.0)
    platform = WebhookPlatform(engine.renderer)
    relay = Relay(store, {"webhook": platform}, None, worker="w")
    try:
        first = pipeline.process(post("a", 1, WIRE))
        await relay.deliver_due()
        pipeline.process(post("b", 7, "⚡️" + WIRE, 2))
        assert await relay.apply_updates() == 1
    finally:
        await platform.stop()
        await runner.cleanup()
    alert, update = got
    assert alert["story"] == first.post.key and "event" not in alert
    assert update["event"] == "update" and update["story"] == first.post.key
    assert update["extra_sources"] == 1
    assert update["sources"] == [{"source": "b", "link": "https://t.me/b/7"}]
    store.close()
