"""This module contains the end-to-end tests of wirewatch on Telegram.

wirewatch starts as `wirewatch run` does (`bot.service.run`), with the real python-telegram-bot
polling the loopback fake Bot API and the real translator calling the loopback LibreTranslate
fake, whose "translation" is recognisable: "[en] " + the text upper-cased.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot import service
from bot.errors import ConfigError
from bot.settings import Settings, parse_settings
from tests.fakes.botapi import FakeBotApi, Sent, utf16_len
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.integration.telegram_helpers import (
    ADMIN,
    CHANNEL,
    DESK,
    EDITOR,
    FORUM,
    GROUP_SOURCE,
    MEMBER,
    NK_KURSK,
    PRIVATE_CHANNEL,
    ROOM,
    Wirewatch,
    config_text,
    eventually,
)

RU_POST = ("Северокорейские военные впервые вступили в бой в Курской области, "
           "сообщает источник.")
NOISE = "Погода в Москве: завтра дождь и ветер до 15 метров в секунду."
REPO = Path(__file__).resolve().parents[2]
PTB_INTERNAL_WARNING = "ignore::telegram.warnings.PTBDeprecationWarning"  # RetryAfter's own


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        fake.add_chat(CHANNEL, "channel", title="Фронтовая сводка", username="frontline_ru")
        fake.add_chat(PRIVATE_CHANNEL, "channel", title="Insider")
        fake.add_chat(ROOM, "supergroup", title="Newsroom")
        yield fake


@pytest.fixture
async def libre() -> AsyncIterator[FakeLibreTranslate]:
    async with FakeLibreTranslate() as fake:
        yield fake


@pytest.fixture
def make_settings(api: FakeBotApi, libre: FakeLibreTranslate, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", api.token)

    def make(**kw: Any) -> Settings:
        return parse_settings(config_text(api, libre, tmp_path / "ww.db", **kw))

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Fail a test that logged an error (crashed handlers, pending tasks), except for the
    messages a test expects and lists here."""
    allowed: list[str] = []
    caplog.set_level(logging.INFO)
    yield allowed
    bad = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
           and r.name.split(".")[0] in {"telegram", "asyncio", "aiohttp", "httpx", "bot",
                                        "handlers"}]
    assert [m for m in bad if not any(m.startswith(a) for a in allowed)] == []


def to_chat(api: FakeBotApi, chat: int) -> list[Sent]:
    return [s for s in api.sent if s.method == "sendMessage" and s.chat_id == chat]


def alerts(api: FakeBotApi, chat: int = ROOM) -> list[Sent]:
    """Alerts are the messages that link to an original post."""
    return [s for s in to_chat(api, chat) if "Original post" in s.plain_text]


async def ask(api: FakeBotApi, chat: int, user: int, text: str, **kw: Any) -> Sent:
    """Post a command as `user` and wait for the next message the bot sends to `chat`."""
    before = len(to_chat(api, chat))
    api.push_message(chat, user, text, **kw)
    await eventually(lambda: len(to_chat(api, chat)) > before, f"an answer to {text!r}")
    return to_chat(api, chat)[before]


def post_key(source: str, chat: int, message_id: int) -> str:
    return f"{source}:{chat}:{message_id}"


async def test_russian_channel_post_becomes_one_translated_alert(api, settings) -> None:
    async with Wirewatch(settings, api) as ww:
        api.push_channel_post(CHANNEL, NOISE)
        post = api.push_channel_post(CHANNEL, RU_POST)["channel_post"]
        (alert,) = await eventually(lambda: alerts(api), "the alert")
        await eventually(lambda: ww.store.outbox_counts()["sent"] == 1, "the alert marked sent")
        assert ww.store.count_posts() == 2  # the noise is stored for /recent, not relayed

    text = alert.plain_text
    assert alert.params["parse_mode"] == "HTML"
    assert text.startswith("[en] СЕВЕРОКОРЕЙСКИЕ ВОЕННЫЕ")
    quote = next(e for e in alert.entities if e["type"] == "expandable_blockquote")
    assert text[quote["offset"]:quote["offset"] + quote["length"]] == RU_POST
    assert "Russian (ru)" in text and "North Korea, Kursk" in text and "nk-kursk" in text
    assert "#NorthKorea #Kursk" in text
    assert [e["type"] for e in alert.entities].count("hashtag") == 2
    link = next(e for e in alert.entities if e["type"] == "text_link")
    assert link["url"] == f"https://t.me/frontline_ru/{post['message_id']}"
    assert len(to_chat(api, ROOM)) == 1  # the noise stayed silent
    menu = {c["command"] for c in api.commands["default|"]}
    assert {"recent", "search", "subscribe", "unsubscribe", "subscriptions", "keywords",
            "sources", "lang", "status", "test", "pause", "resume", "help", "start"} <= menu


async def test_commands_and_moderators(api, make_settings) -> None:
    api.set_admins(ROOM, [ADMIN])
    settings = make_settings(moderators=(EDITOR,))
    async with Wirewatch(settings, api) as ww:
        store = ww.store
        post = api.push_channel_post(CHANNEL, RU_POST)["channel_post"]
        await eventually(lambda: alerts(api), "the alert")

        found = await ask(api, ROOM, MEMBER, f"/recent@{api.bot_username} kursk 3")
        assert found.plain_text.startswith("1 most recent post(s) for kursk:")
        assert RU_POST[:40] in found.plain_text
        assert any(e.get("url") == f"https://t.me/frontline_ru/{post['message_id']}"
                   for e in found.entities)

        refused = await ask(api, ROOM, MEMBER, "/subscribe entity:zelensky")
        assert refused.plain_text.startswith("Only moderators can change this")
        assert [s.id for s in store.subscriptions("newsroom")] == ["nk-kursk"]
        assert store.audit_log() == []

        done = await ask(api, ROOM, ADMIN, "/subscribe\nentity:kursk AND бой")
        assert done.plain_text.startswith("Subscribed as s1: entity:kursk AND бой")
        assert "Dry run: 1 stored post(s)" in done.plain_text
        assert [s.id for s in store.subscriptions("newsroom")] == ["nk-kursk", "s1"]
        listed = await ask(api, ROOM, ADMIN, "/subscriptions")
        assert "s1: entity:kursk AND бой" in listed.plain_text

        assert (await ask(api, ROOM, MEMBER, "/lang de")).plain_text.startswith("Only moder")
        changed = await ask(api, ROOM, EDITOR, f"/lang@{api.bot_username} de")
        assert "German (de)" in changed.plain_text
        assert store.get_room("newsroom").language == "de"

        unknown = await ask(api, ROOM, MEMBER, "/frobnicate now")
        assert unknown.plain_text == "Unknown command /frobnicate. Try /help."
        api.push_message(ROOM, MEMBER, "/recent@some_other_bot")  # not ours: no answer
        status = await ask(api, ROOM, MEMBER, "/status")
        assert "This room: newsroom, language de" in status.plain_text
        audit = {(a.action, a.actor.split(" ")[0]) for a in store.audit_log()}

    assert audit == {("subscribe", f"telegram:{ADMIN}"), ("lang", f"telegram:{EDITOR}")}
    member_checks = [c for c in api.calls if c.method == "getChatMember"
                     and c.params["user_id"] == MEMBER]
    assert len(member_checks) == 1  # answers are cached for admin_cache_seconds


async def test_every_command_answers_and_changes_are_audited(api, make_settings) -> None:
    # EDITOR is an operator (listed in the config): only operators make a new chat a room
    # and change the shared sources.
    settings = make_settings(moderators=(EDITOR,))
    async with Wirewatch(settings, api) as ww:
        store = ww.store
        api.push_channel_post(CHANNEL, RU_POST)
        await eventually(lambda: alerts(api), "a stored, alerted post")
        answers = {}
        for command, expected in [
            ("/start", "wirewatch monitors news channels"),
            ("/help", "Commands:\n/help"),
            ("/search", "Usage: /search <query>"),
            ("/search entity:north_korea 2", "1 most recent post(s) for entity:north_korea"),
            ("/subscribe entity:kursk", "Subscribed as s1: entity:kursk"),
            ("/pause s1", "Subscription s1 paused (room "),
            ("/resume s1", "Subscription s1 resumed (room "),
            ("/keywords add Суджа", "Added keyword 'Суджа'. Proposed translations: "),
            ("/keywords list", "Keywords:\n• Суджа"),
            ("/keywords remove Суджа", "Removed keyword 'Суджа'."),
            ("/sources add rybar telegram_public rybar", "Added source rybar"),
            ("/sources list", "Sources:\n• frontline [telegram] -1001000000001"),
            ("/test КНДР и Курск", "Language: "),
            ("/unsubscribe s1", "Removed subscription s1 (room "),
        ]:
            answers[command] = (await ask(api, DESK, EDITOR, command)).plain_text
            assert answers[command].startswith(expected), (command, answers[command])
        assert "Entities: North Korea («КНДР»), Kursk («Курск»)" in answers["/test КНДР и Курск"]
        assert "Would also alert rooms: newsroom" in answers["/test КНДР и Курск"]
        assert "rybar [telegram_public] rybar" in answers["/sources list"]
        audit = [(a.action, a.actor.split(" ")[0]) for a in reversed(store.audit_log())]
        room = store.find_room("telegram", str(DESK)).id
    assert [a for a, _ in audit] == ["subscribe", "pause", "resume", "keyword.add",
                                     "keyword.remove", "source.add", "unsubscribe"]
    assert {actor for _, actor in audit} == {f"telegram:{EDITOR}"}
    assert room == "telegram-1002000000003"  # made on the first change, with its own language


async def test_a_failing_handler_is_logged_and_answered(api, settings, no_errors_logged) -> None:
    no_errors_logged.append("error while handling an update")
    async with Wirewatch(settings, api):
        api.fail_next("sendMessage", 400, description="Bad Request: injected failure")
        sorry = await ask(api, DESK, MEMBER, "/status")  # its answer fails: the handler raises
        assert sorry.plain_text == "Sorry, something went wrong on our side; it has been logged."
        assert (await ask(api, DESK, MEMBER, "/status")).plain_text.startswith("Up ")


@pytest.mark.filterwarnings(PTB_INTERNAL_WARNING)
async def test_flood_limit_is_honoured(api, settings, no_errors_logged) -> None:
    no_errors_logged.append("Rate limit hit after maximum")  # PTB says it gave up in place
    loop = asyncio.get_running_loop()

    def statuses() -> list[int | None]:
        return [c.status for c in api.calls if c.method == "sendMessage"]

    async with Wirewatch(settings, api) as ww:
        # One 429: PTB's rate limiter waits retry_after and sends again.
        api.fail_next("sendMessage", 429, retry_after=1)
        api.push_channel_post(CHANNEL, RU_POST)
        await eventually(lambda: statuses() == [429], "the first 429")
        hit = loop.time()
        await eventually(lambda: len(alerts(api)) == 1, "the alert after the flood wait")
        assert loop.time() - hit >= 0.9 and statuses() == [429, 200]

        # 429 again on the retry: the relay keeps the alert and sends it after retry_after.
        api.fail_next("sendMessage", 429, retry_after=1, times=2)
        api.push_channel_post(CHANNEL, "КНДР перебросила ещё войска под Курск.")
        await eventually(lambda: statuses()[2:] == [429, 429], "two more 429s")
        hit = loop.time()
        await eventually(lambda: ww.store.outbox_counts()["pending"] == 1, "a rescheduled alert")
        await eventually(lambda: len(alerts(api)) == 2, "the rescheduled alert", timeout=10)
        assert loop.time() - hit >= 0.9 and statuses() == [429, 200, 429, 429, 200]
        await eventually(lambda: ww.store.outbox_counts()["sent"] == 2, "both marked sent")
        assert ww.store.outbox_counts() == {"pending": 0, "sending": 0, "sent": 2, "failed": 0}
    assert "ещё войска" in alerts(api)[1].plain_text


async def test_kill_while_sending_then_restart_delivers_exactly_once(
        api, libre, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", api.token)
    config = tmp_path / "ww.yaml"
    config.write_text(config_text(api, libre, tmp_path / "ww.db"), encoding="utf-8")
    log_path = tmp_path / "first.log"
    with log_path.open("wb") as log_file:
        first = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.telegram_helpers", str(config), "1.0",
            "first-process", cwd=REPO, stdout=log_file, stderr=log_file)
    try:
        await eventually(lambda: api.calls and api.calls[-1].method == "getUpdates"
                         or first.returncode is not None, "the first process to poll", 20)
        assert first.returncode is None, log_path.read_text()
        api.push_channel_post(CHANNEL, RU_POST)
        await eventually(lambda: len(alerts(api)) == 1, "the first alert")
        api.hang_next("sendMessage")
        api.push_channel_post(CHANNEL, "КНДР перебросила ещё войска под Курск.")
        await api.wait_for_call("sendMessage", 2)  # the second alert is in flight...
    finally:
        first.kill()  # ...when the process dies (SIGKILL: no clean-up code runs)
        await first.wait()
    assert len(alerts(api)) == 1

    settings = parse_settings(config.read_text(encoding="utf-8"))
    async with Wirewatch(settings, api, lease=1.0, worker="second-process") as ww:
        # The dead worker's lease runs out; the new process sends the alert, once.
        await eventually(lambda: len(alerts(api)) == 2, "the alert of the killed process")
        api.push_channel_post(CHANNEL, "В Курской области замечены северокорейские танки.")
        await eventually(lambda: len(alerts(api)) == 3, "a new alert after the restart")
        await eventually(lambda: ww.store.outbox_counts()["sent"] == 3, "all marked sent")
        counts = ww.store.outbox_counts()
    texts = [a.plain_text for a in alerts(api)]
    assert len(texts) == 3 and RU_POST in texts[0] and "ещё войска" in texts[1]
    assert "танки" in texts[2]
    assert counts == {"pending": 0, "sending": 0, "sent": 3, "failed": 0}


async def test_alerts_go_into_the_rooms_forum_topic(api, make_settings) -> None:
    api.add_chat(FORUM, "supergroup", title="Desk", is_forum=True)
    settings = make_settings(rooms=[
        {"id": "desk", "platform": "telegram", "chat": FORUM, "thread": 77, "language": "en",
         "subscriptions": [{"id": "nk-kursk", "query": NK_KURSK}]}])
    async with Wirewatch(settings, api):
        api.push_channel_post(CHANNEL, RU_POST)
        (alert,) = await eventually(lambda: alerts(api, FORUM), "the alert in the topic")
        answer = await ask(api, FORUM, MEMBER, "/subscriptions", thread_id=77)
    assert alert.thread_id == 77 and alert.message["is_topic_message"] is True
    assert answer.thread_id == 77 and answer.plain_text.startswith("Room desk (language en)")


async def test_an_edit_that_newly_matches_alerts_once(api, settings) -> None:
    before = "Северокорейские военные замечены у границы."
    first_edit = "Северокорейские военные замечены у границы Курской области."
    second_edit = first_edit + " Обновлено: их около сотни."
    async with Wirewatch(settings, api) as ww:
        mid = api.push_channel_post(CHANNEL, before)["channel_post"]["message_id"]
        key = post_key("frontline", CHANNEL, mid)
        await eventually(lambda: ww.store.get_post(key), "the unmatched post stored")
        api.push_edited_channel_post(CHANNEL, first_edit, mid)
        (alert,) = await eventually(lambda: alerts(api), "the alert for the edit")
        api.push_edited_channel_post(CHANNEL, second_edit, mid)
        stored = await eventually(lambda: (p := ww.store.get_post(key)) and
                                  p.post.text == second_edit and p, "the second edit stored")
        # The text and any alert for it are stored in one transaction: nothing more is queued.
        await eventually(lambda: ww.store.outbox_counts()["sent"] == 1, "the alert marked sent")
        assert ww.store.outbox_counts() == {"pending": 0, "sending": 0, "sent": 1, "failed": 0}
        assert ww.store.count_posts() == 1
    assert stored.post.edited and len(alerts(api)) == 1
    assert first_edit in alert.plain_text and "(edited)" in alert.plain_text


async def test_an_alerted_post_that_is_edited_is_corrected_in_place(api, settings) -> None:
    correction = RU_POST.replace("впервые", "уже второй раз")
    async with Wirewatch(settings, api) as ww:
        mid = api.push_channel_post(CHANNEL, RU_POST)["channel_post"]["message_id"]
        (alert,) = await eventually(lambda: alerts(api), "the alert")
        await eventually(lambda: ww.store.outbox_counts()["sent"] == 1, "the alert marked sent")
        api.push_edited_channel_post(CHANNEL, correction, mid)
        edits = await eventually(
            lambda: [s for s in api.sent if s.method == "editMessageText"
                     and "УЖЕ ВТОРОЙ РАЗ" in s.plain_text], "the alert edited in place")
    assert len(alerts(api)) == 1  # corrected, not sent again
    edit = edits[-1]
    assert edit.params["message_id"] == alert.message["message_id"]
    assert "уже второй раз" in edit.plain_text and "(edited)" in edit.plain_text
    assert "Original post" in edit.plain_text


async def test_caption_forward_origin_private_link_and_group_message(api, settings) -> None:
    rybar = {"id": -1001999, "type": "channel", "title": "Рыбарь", "username": "rybar"}
    async with Wirewatch(settings, api):
        photo = api.push_channel_post(
            PRIVATE_CHANNEL, caption="Фото: северокорейские солдаты под Курском.",
            forward_from_chat=rybar, forward_from_message_id=9)["channel_post"]
        (alert,) = await eventually(lambda: alerts(api), "the caption's alert")
        said = api.push_message(GROUP_SOURCE, MEMBER, "Говорят, КНДР прислала ещё бригаду "
                                "в Курскую область.", title="OSINT chat")["message"]
        await eventually(lambda: len(alerts(api)) == 2, "the group message's alert")
    text = alert.plain_text
    assert "Фото: северокорейские солдаты под Курском." in text
    assert "📰 insider (via Рыбарь (@rybar))" in text
    link = next(e for e in alert.entities if e["type"] == "text_link")
    assert link["url"] == f"https://t.me/c/1000000002/{photo['message_id']}"
    group_alert = alerts(api)[1]
    assert "📰 osint-chat" in group_alert.plain_text
    link = next(e for e in group_alert.entities if e["type"] == "text_link")
    assert link["url"] == f"https://t.me/c/1000000003/{said['message_id']}"


async def test_a_group_that_became_a_supergroup_keeps_getting_alerts(api, make_settings) -> None:
    old, new = -4001, -1004001  # a basic group's id, then its supergroup's
    settings = make_settings(rooms=[
        {"id": "team", "platform": "telegram", "chat": old, "language": "en",
         "subscriptions": [{"id": "nk-kursk", "query": NK_KURSK}]}])
    api.fail_next("sendMessage", 400, description="Bad Request: group chat was upgraded to a "
                  "supergroup chat", parameters={"migrate_to_chat_id": new})
    async with Wirewatch(settings, api) as ww:
        api.push_channel_post(CHANNEL, RU_POST)
        (alert,) = await eventually(lambda: alerts(api, new), "the alert in the supergroup")
        await eventually(lambda: ww.store.outbox_counts()["sent"] == 1, "the alert marked sent")
        assert ww.store.get_room("team").chat == str(new)
    assert alerts(api, old) == [] and RU_POST in alert.plain_text


async def test_a_rejected_token_stops_the_start_with_a_clear_error(
        api, settings, monkeypatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:not-the-right-token")
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN was refused by Telegram") as err:
        await service.run(settings, stop=asyncio.Event())
    assert "not-the-right-token" not in str(err.value)


async def test_hostile_4096_characters_are_relayed_escaped_and_within_limits(
        api, settings) -> None:
    lead = "Северокорейские войска в Курской области. "
    hostile = ('Срочно: <script>alert(1)</script> <b>fake</b> <a href="http://evil">x</a> '
               "&amp; &lt;i&gt; \u200b\u200d\ufeff 🔥🇰🇵 </blockquote> подробности позже. ")
    markup = (lead + hostile * 100)[:4096]
    emoji = (lead + "🇰🇵🔥 " * 2000)[:4096]  # Telegram counts UTF-16 units: twice the length
    async with Wirewatch(settings, api):
        mid = api.push_channel_post(CHANNEL, markup)["channel_post"]["message_id"]
        api.push_channel_post(CHANNEL, emoji)
        first, second = await eventually(lambda: len(alerts(api)) == 2 and alerts(api),
                                         "both hostile alerts")
    shown = first.plain_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first.text
    assert '<script>alert(1)</script> <b>fake</b> <a href="http://evil">x</a> &amp;' in shown
    assert "\u200b\u200d\ufeff 🔥🇰🇵 </blockquote>" in shown
    kinds = [e["type"] for e in first.entities]
    assert kinds.count("expandable_blockquote") == 1 and kinds.count("text_link") == 1
    assert not {"bold", "italic", "underline", "code", "pre", "blockquote"} & set(kinds)
    assert [e["url"] for e in first.entities if e["type"] == "text_link"] == [
        f"https://t.me/frontline_ru/{mid}"]
    for alert, text in ((first, markup), (second, emoji)):
        assert len(text) == 4096 and utf16_len(text) > 4096
        # Cut to fit, measured as Telegram measures, using the room, keeping the link.
        assert 3800 < utf16_len(alert.plain_text) <= 4096
        assert alert.plain_text.rstrip().endswith("Original post") and "…" in alert.plain_text
        assert alert.plain_text.startswith("[en] СЕВЕРОКОРЕЙСКИЕ ВОЙСКА")


async def test_plain_text_fallback_keeps_the_link(api, settings, no_errors_logged) -> None:
    no_errors_logged.append("telegram rejected our HTML")
    refuse = "Bad Request: can't parse entities: Unsupported start tag"
    long = ("Северокорейские войска в Курской области. " * 100)[:4096]
    mids = []
    async with Wirewatch(settings, api):
        for n, text in enumerate((RU_POST, long), start=1):
            api.fail_next("sendMessage", 400, description=refuse)  # the HTML; then plain text
            mids.append(api.push_channel_post(CHANNEL, text)["channel_post"]["message_id"])
            sent = await eventually(lambda n=n: len(to_chat(api, ROOM)) == n and to_chat(api, ROOM),
                                    f"alert {n} as plain text")
    for message, mid in zip(sent, mids, strict=True):
        assert message.params.get("parse_mode") is None
        # The written-out link survives (Telegram links it), and the post text gave way for it.
        text = message.plain_text
        kinds = [e["type"] for e in message.entities]
        assert "text_link" not in kinds and "url" in kinds
        assert text.endswith(f"Original post: https://t.me/frontline_ru/{mid}"), text[-120:]
        assert utf16_len(text) <= 4096 and "📰 frontline" in text
    assert "…" in sent[1].plain_text


async def test_unparseable_update_is_skipped_and_the_next_post_alerts(api, settings,
                                                                       caplog) -> None:
    async with Wirewatch(settings, api):
        api.push_raw({"message": {"message_id": 1}})
        api.push_raw({"channel_post": "not a message"})
        api.push_channel_post(CHANNEL, RU_POST)
        await eventually(lambda: alerts(api), "the alert behind the bad updates")
        await eventually(lambda: api.pending_updates == [], "every update confirmed")
    polls = [c for c in api.calls if c.method == "getUpdates"]
    assert len(polls) < 10  # no tight loop over the same batch
    skipped = [r.getMessage() for r in caplog.records if "cannot parse" in r.getMessage()]
    assert len(skipped) == 2 and "(message)" in skipped[0]


async def test_a_channels_copy_in_its_discussion_group_does_not_alert_twice(api, settings) -> None:
    channel = {"id": CHANNEL, "type": "channel", "title": "Фронтовая сводка",
               "username": "frontline_ru"}
    copy = {"is_automatic_forward": True, "sender_chat": channel,
            "forward_origin": {"type": "channel", "chat": channel, "message_id": 1,
                               "date": 1730700000}}
    async with Wirewatch(settings, api):
        api.push_channel_post(CHANNEL, RU_POST)
        await eventually(lambda: len(alerts(api)) == 1, "the channel post's alert")
        api.push_message(GROUP_SOURCE, MEMBER, RU_POST, extra=copy)
        api.push_message(GROUP_SOURCE, MEMBER, "А вот и КНДР: войска в Курской области.")
        await eventually(lambda: len(alerts(api)) == 2, "the group's own message's alert")
        await asyncio.sleep(0.3)
    assert len(alerts(api)) == 2  # the automatic copy stayed quiet


async def test_copies_of_a_story_edit_the_alert_once_with_their_sources(api, settings) -> None:
    """Two channels repost an alerted post within seconds: no second alert, one
    editMessageText that names them (coalesced), through the real PTB and relay."""
    stories = settings.stories.model_copy(update={"enabled": True, "edit_interval": 1.5})
    settings = settings.model_copy(update={"stories": stories})
    async with Wirewatch(settings, api) as ww:
        api.push_channel_post(CHANNEL, RU_POST)
        (alert,) = await eventually(lambda: alerts(api), "the alert")
        await eventually(lambda: ww.store.outbox_counts()["sent"] == 1, "the alert marked sent")
        api.push_channel_post(PRIVATE_CHANNEL, "⚡️ " + RU_POST + "\n\nПодписаться на канал")
        api.push_message(GROUP_SOURCE, MEMBER, RU_POST + " Подробности позже.")
        edits = await eventually(
            lambda: [s for s in api.sent if s.method == "editMessageText"
                     and "+2 sources" in s.plain_text], "the alert edited with both sources")
        await asyncio.sleep(0.5)
    assert len(alerts(api)) == 1  # one alert for the story
    assert len([s for s in api.sent if s.method == "editMessageText"]) == 1  # one edit
    assert edits[0].params["message_id"] == alert.message["message_id"]
    assert "insider" in edits[0].plain_text and "osint-chat" in edits[0].plain_text
