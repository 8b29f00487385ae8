"""This module contains the end-to-end tests of `run` when the store cannot write.

The disk is "filled" with SQLite's `PRAGMA max_page_count` on the store's own connection:
every write that needs a new page then fails as on a full disk, and the store raises
`StorageError`. Posts arrive through the real path (the fake Bot API's getUpdates, the real
python-telegram-bot, the Telegram adapter); the test then frees the space and checks that
every post was stored and alerted exactly once, in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from bot.bootstrap import App
from bot.errors import StorageError
from bot.model import Post
from bot.settings import parse_settings
from tests.fakes.botapi import FakeBotApi, Sent
from tests.fakes.loopback import eventually
from tests.integration.telegram_helpers import (
    CHANNEL,
    ROOM,
    Wirewatch,
    process_config,
)

POST = "Северокорейские военные вступили в бой в Курской области, сводка №{}. "
PADDING = "Подробности репортажа с места событий. " * 60  # a few KB: each post needs new pages


@pytest.fixture
async def api(monkeypatch) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        fake.add_chat(CHANNEL, "channel", title="Фронтовая сводка", username="frontline_ru")
        fake.add_chat(ROOM, "supergroup", title="Newsroom")
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake.token)
        yield fake


def fill(store) -> None:
    """No page may be added from now on: a full disk, as SQLite sees it."""
    db = store._db  # the SQLite connection: a test of the engine's failure mode
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


def free(store) -> None:
    store._db.execute("PRAGMA max_page_count = 1073741823")


def require_storage_error(tmp_path: Path) -> None:
    """The store must report a full disk as StorageError (the storage side of the contract)."""
    settings = parse_settings(yaml.safe_dump({"storage": {"path": str(tmp_path / "probe.db")}}))
    app = App.open(settings)
    try:
        fill(app.store)
        post = Post("probe", "telegram", "-1", "1", POST.format(0) + PADDING)
        try:
            app.pipeline.process(post)
        except StorageError:
            return
        except Exception as exc:
            pytest.skip(f"the store raises {type(exc).__name__}, not StorageError, on a full "
                        f"disk (the storage helper's change)")
        pytest.fail("filling the store did not make the write fail")
    finally:
        app.store.close()


def alerts(api: FakeBotApi) -> list[Sent]:
    return [s for s in api.sent if s.method == "sendMessage" and s.chat_id == ROOM
            and "Original post" in s.plain_text]


def numbers(api: FakeBotApi) -> list[int]:
    return sorted(int(a.plain_text.split("№", 1)[1].split(".", 1)[0]) for a in alerts(api))


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's own
async def test_a_full_disk_pauses_ingest_and_loses_nothing(api, tmp_path, caplog) -> None:
    require_storage_error(tmp_path)
    caplog.set_level(logging.INFO)
    settings = parse_settings(yaml.safe_dump(process_config(api, tmp_path / "ww.db", "ww")))
    async with Wirewatch(settings, api) as ww:
        ww.app.intake.retry_cap = 0.5  # retry often: the test frees space at once
        # Alert №0 is queued but rate-limited when the disk fills: the relay still sends it.
        api.fail_next("sendMessage", 429, retry_after=1)
        api.push_channel_post(CHANNEL, POST.format(0) + PADDING)
        await eventually(lambda: any(c.status == 429 for c in api.calls), "the flood limit")
        fill(ww.store)
        count = 8
        for i in range(1, count + 1):
            api.push_channel_post(CHANNEL, POST.format(i) + PADDING)
        await eventually(lambda: ww.app.intake.held == count, "every post held in memory")
        await eventually(lambda: numbers(api) == [0], "the queued alert, sent while paused")
        # Commands are still answered, and /status says what is going on.
        api.push_message(ROOM, 111, "/status")
        answer = await eventually(lambda: [s for s in api.sent if "Storage: paused" in s.text],
                                  "/status while paused")
        assert f"{count} posts held in memory" in answer[0].text
        assert numbers(api) == [0] and ww.app.intake.paused  # nothing new stored or alerted
        paused_lines = [r for r in caplog.records if "ingest paused" in r.getMessage()]
        assert len(paused_lines) == 1 and paused_lines[0].levelno == logging.ERROR

        free(ww.store)
        await eventually(lambda: numbers(api) == list(range(count + 1)), "every alert", 15)
        assert not ww.app.intake.paused
        await asyncio.sleep(0.5)
        stored = [ww.store.get_post(f"frontline:{CHANNEL}:{i}") for i in range(1, count + 2)]
    assert all(p is not None for p in stored)
    ids = [p.id for p in stored]
    assert ids == sorted(ids)  # stored in the order they arrived
    assert numbers(api) == list(range(count + 1))  # each alerted once
    assert any("held posts stored" in r.getMessage() for r in caplog.records)


async def test_a_polled_post_is_not_handed_back_until_it_is_stored(tmp_path) -> None:
    """Polled sources move their cursor after `ingest` returns: it must not return early."""
    require_storage_error(tmp_path)
    settings = parse_settings(yaml.safe_dump({"storage": {"path": str(tmp_path / "p.db")}}))
    app = App.open(settings)
    app.intake.retry_base = app.intake.retry_cap = 0.05
    try:
        fill(app.store)
        post = Post("frontline", "telegram_public", "kursk", "7", POST.format(7) + PADDING)
        task = asyncio.create_task(app.ingest(post))  # wait=True: what pollers use
        await asyncio.sleep(0.3)
        assert not task.done() and app.store.get_post(post.key) is None
        chat = Post("chat", "telegram", "-100", "8", POST.format(8) + PADDING)
        assert await app.ingest(chat, wait=False) is None  # chat sources go on at once
        free(app.store)
        outcome = await asyncio.wait_for(task, 5)
        assert outcome is not None and app.store.get_post(post.key) is not None
        await eventually(lambda: app.store.get_post(chat.key) is not None, "the chat post")
        assert app.store.get_post(post.key).id < app.store.get_post(chat.key).id
    finally:
        await app.aclose()


async def test_a_stop_releases_a_polled_source_waiting_on_a_full_disk(tmp_path) -> None:
    require_storage_error(tmp_path)
    settings = parse_settings(yaml.safe_dump({"storage": {"path": str(tmp_path / "s.db")}}))
    app = App.open(settings)
    app.intake.retry_base = app.intake.retry_cap = 0.05
    try:
        fill(app.store)
        post = Post("frontline", "telegram_public", "kursk", "9", POST.format(9) + PADDING)
        task = asyncio.create_task(app.ingest(post))
        await eventually(lambda: app.intake.held == 1, "the post held")
        app.intake.release_waiters()  # what `run` does first when it stops
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 1)
        assert app.intake.held == 1  # still held: the last drain at close may store it
        free(app.store)
        await eventually(lambda: app.store.get_post(post.key) is not None, "stored after all")
    finally:
        await app.aclose()


async def test_a_full_buffer_makes_sources_wait_instead_of_dropping(tmp_path, caplog) -> None:
    require_storage_error(tmp_path)
    settings = parse_settings(yaml.safe_dump({"storage": {"path": str(tmp_path / "b.db")}}))
    app = App.open(settings)
    app.intake.max_held = 2
    app.intake.retry_base = app.intake.retry_cap = 0.05
    try:
        fill(app.store)
        posts = [Post("chat", "telegram", "-100", str(i), POST.format(i) + PADDING)
                 for i in range(4)]
        calls = [asyncio.create_task(app.ingest(p, wait=False)) for p in posts]
        await eventually(lambda: app.intake.held == 2, "the buffer full")
        await asyncio.sleep(0.2)
        assert [c.done() for c in calls] == [True, True, False, False]  # the rest wait
        assert len([r for r in caplog.records if "sources now wait" in r.getMessage()]) == 1
        free(app.store)
        await asyncio.wait_for(asyncio.gather(*calls), 5)
        await eventually(lambda: all(app.store.get_post(p.key) for p in posts), "all stored")
        ids = [app.store.get_post(p.key).id for p in posts]
        assert ids == sorted(ids)
    finally:
        await app.aclose()
