"""This module contains tests that chat sources report the same health as polled ones.

wirewatch runs as `wirewatch run` does, with the real python-telegram-bot against the loopback
fake Bot API and the real discord.py against the loopback fake Discord; posts in watched chats
show up in `App.health()` and in /status like a polled source's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import parse_settings
from tests.fakes.botapi import FakeBotApi
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.integration import discord_helpers as dh
from tests.integration.telegram_helpers import (
    CHANNEL,
    MEMBER,
    ROOM,
    Wirewatch,
    config_text,
    eventually,
)

RU_POST = "Северокорейские военные впервые вступили в бой в Курской области."
NOISE = "Погода в Москве: завтра дождь."


@pytest.fixture
async def libre() -> AsyncIterator[FakeLibreTranslate]:
    async with FakeLibreTranslate() as fake:
        yield fake


async def test_telegram_channel_posts_count_in_source_health(
        libre: FakeLibreTranslate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeBotApi() as api:
        api.add_chat(CHANNEL, "channel", title="Фронтовая сводка", username="frontline_ru")
        api.add_chat(ROOM, "supergroup", title="Newsroom")
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", api.token)
        settings = parse_settings(config_text(api, libre, tmp_path / "ww.db"))
        async with Wirewatch(settings, api) as ww:
            assert "frontline" not in ww.app.health()["sources"]  # nothing seen yet
            api.push_channel_post(CHANNEL, NOISE)
            api.push_channel_post(CHANNEL, RU_POST)
            await eventually(lambda: ww.store.count_posts() == 2, "both posts stored")
            status = ww.app.health()["sources"]["frontline"]
            assert status["kind"] == "telegram" and status["ok"] is True
            assert status["posts"] == 2 and status["failures"] == 0 and status["last_post"]
            before = len([s for s in api.sent if s.chat_id == ROOM])
            api.push_message(ROOM, MEMBER, "/status")
            await eventually(lambda: len([s for s in api.sent if s.chat_id == ROOM]) > before,
                             "the /status answer")
            answers = [s.plain_text for s in api.sent if s.chat_id == ROOM]
            assert any("Source frontline: ok, 2 posts" in text for text in answers)
            # a removed source leaves /status at the supervisor's next look at the store
            ww.store.remove_source("frontline")
            await eventually(lambda: "frontline" not in ww.app.health()["sources"],
                             "the removed source forgotten", timeout=10)


async def test_discord_channel_messages_count_in_source_health(
        libre: FakeLibreTranslate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake: FakeDiscord
    async with dh.fake_discord() as fake:
        monkeypatch.setenv(dh.TOKEN_ENV, fake.token)
        settings = dh.make_settings(fake, str(tmp_path / "d.db"), libre.url)
        async with dh.wirewatch(settings, fake) as ww:
            await fake.dispatch_message(dh.SOURCE_ID, NOISE, author_id=dh.REPORTER_ID)
            await fake.dispatch_message(dh.SOURCE_ID, RU_POST, author_id=dh.REPORTER_ID)
            await eventually(lambda: ww.store.count_posts() == 2, "both messages stored")
            health = ww.app.health()["sources"]
            assert health["osint"]["kind"] == "discord" and health["osint"]["ok"] is True
            assert health["osint"]["posts"] == 2
            assert "wire" not in health  # watched, but nothing arrived from it yet
