"""This module contains tests that prove the fake Bot API with the real python-telegram-bot.

No wirewatch code is involved: a real PTB `Application` with updater polling and
`AIORateLimiter` talks HTTP over loopback to `tests.fakes.botapi.FakeBotApi`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest, EndPointNotFound, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from tests.fakes.botapi import FakeBotApi, parse_html

GROUP = -1001234567890
CHANNEL = -1009876543210
USER = 4242


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> object:
    """Fail a test whose PTB, asyncio or aiohttp logged an error (pending tasks, crashes)."""
    caplog.set_level(logging.INFO)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR
           and r.name.split(".")[0] in {"telegram", "asyncio", "aiohttp", "httpx"}]
    assert not bad, [r.getMessage() for r in bad]


def build(api: FakeBotApi, *, max_retries: int = 2) -> Application:
    return (ApplicationBuilder().token(api.token).base_url(api.base_url)
            .base_file_url(api.base_file_url)
            .rate_limiter(AIORateLimiter(max_retries=max_retries)).build())


@asynccontextmanager
async def running(api: FakeBotApi, *handlers: BaseHandler, max_retries: int = 2
                  ) -> AsyncIterator[Application]:
    app = build(api, max_retries=max_retries)
    for handler in handlers:
        app.add_handler(handler)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=timedelta(seconds=1))
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(f"pong {' '.join(context.args)}".strip())


async def test_ping_command_in_group_is_answered(api: FakeBotApi) -> None:
    async with running(api, CommandHandler("ping", ping)):
        api.push_message(GROUP, USER, "/ping")
        api.push_message(GROUP, USER, f"/ping@{api.bot_username} now")
        api.push_message(GROUP, USER, "/ping@some_other_bot")  # not for us: no answer
        sent = await api.wait_for_sent(2)

    assert [s.text for s in sent] == ["pong", "pong now"]
    assert all(s.chat_id == GROUP for s in sent)
    assert sent[0].message["from"]["username"] == api.bot_username
    assert len(api.sent) == 2
    # Everything fetched was confirmed by the final getUpdates with the new offset.
    assert api.pending_updates == []


async def test_channel_post_reaches_message_handler(api: FakeBotApi) -> None:
    got: list[Update] = []
    seen = asyncio.Event()

    async def on_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        got.append(update)
        seen.set()

    handler = MessageHandler(filters.UpdateType.CHANNEL_POST, on_post)
    async with running(api, handler):
        api.push_channel_post(CHANNEL, "КНДР направила войска в Курскую область #war",
                              username="frontline_ru", forward_from_chat={
                                  "id": -1001111, "type": "channel", "title": "Source"})
        await asyncio.wait_for(seen.wait(), 5)

    post = got[0].channel_post
    assert post is not None and got[0].message is None
    assert post.chat.type == "channel" and post.chat.username == "frontline_ru"
    assert post.text.startswith("КНДР")
    assert post.forward_origin.chat.title == "Source"
    assert [e.type for e in post.entities] == ["hashtag"]


async def test_edited_channel_post_and_photo_caption_parse(api: FakeBotApi) -> None:
    got: list[Update] = []
    done = asyncio.Event()

    async def on_any(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        got.append(update)
        if len(got) == 2:
            done.set()

    async with running(api, MessageHandler(filters.UpdateType.CHANNEL_POSTS, on_any)):
        first = api.push_channel_post(CHANNEL, caption="Photo from Sudzha",
                                      forward_from_chat=-1002222)
        mid = first["channel_post"]["message_id"]
        api.push_edited_channel_post(CHANNEL, caption="Corrected: photo from Sudzha #Kursk")
        await asyncio.wait_for(done.wait(), 5)

    post, edit = got[0].channel_post, got[1].edited_channel_post
    assert post.caption == "Photo from Sudzha" and post.photo and post.edit_date is None
    assert edit.message_id == mid and edit.edit_date is not None and edit.photo
    assert edit.caption == "Corrected: photo from Sudzha #Kursk"
    assert [e.type for e in edit.caption_entities] == ["hashtag"]
    assert edit.forward_origin.chat.id == -1002222 and edit.date == post.date


async def test_send_message_html_thread_is_recorded(api: FakeBotApi) -> None:
    api.add_chat(GROUP, "supergroup", title="Desk", is_forum=True)
    async with running(api) as app:
        msg = await app.bot.send_message(
            GROUP, "<b>Alert</b> from <a href=\"https://t.me/x/1\">x</a> &lt;3",
            parse_mode=ParseMode.HTML, message_thread_id=77)

    (sent,) = api.sent
    assert sent.params["parse_mode"] == "HTML"
    assert sent.thread_id == 77 and sent.chat_id == GROUP
    assert sent.plain_text == "Alert from x <3"
    assert msg.text == "Alert from x <3" and msg.message_thread_id == 77
    assert msg.is_topic_message
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [("bold", 0, 5),
                                                                    ("text_link", 11, 1)]
    assert msg.entities[1].url == "https://t.me/x/1"


async def test_invalid_html_is_rejected_like_telegram(api: FakeBotApi) -> None:
    async with running(api) as app:
        bad_tag = "(?i)can't parse entities: unsupported start tag \"br\" at byte offset 4"
        with pytest.raises(BadRequest, match=bad_tag):
            await app.bot.send_message(GROUP, "line<br>line", parse_mode=ParseMode.HTML)
        with pytest.raises(BadRequest, match="(?i)can't find end tag"):
            await app.bot.send_message(GROUP, "<b>open", parse_mode=ParseMode.HTML)
    assert api.sent == []


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB-internal
async def test_429_is_retried_by_rate_limiter_and_recorded_once(api: FakeBotApi) -> None:
    api.fail_next("sendMessage", error_code=429, retry_after=1)
    async with running(api, max_retries=2) as app:
        msg = await app.bot.send_message(GROUP, "after the flood")

    assert [s.text for s in api.sent] == ["after the flood"]
    assert msg.message_id == api.sent[0].message_id
    statuses = [c.status for c in api.calls if c.method == "sendMessage"]
    assert statuses == [429, 200]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB-internal
async def test_429_beyond_max_retries_surfaces_retry_after(api: FakeBotApi) -> None:
    api.fail_next("sendMessage", error_code=429, retry_after=1)
    bot = Bot(api.token, base_url=api.base_url)
    async with bot:
        with pytest.raises(RetryAfter) as err:
            await bot.send_message(GROUP, "no limiter here")
    assert "Retry in 1 seconds" in str(err.value)
    assert api.sent == []


async def test_get_chat_member_roles(api: FakeBotApi) -> None:
    api.set_admins(GROUP, [USER, api.bot_id], owner=1)
    async with running(api) as app:
        admin = await app.bot.get_chat_member(GROUP, USER)
        member = await app.bot.get_chat_member(GROUP, 999)
        owner = await app.bot.get_chat_member(GROUP, 1)
        admins = await app.bot.get_chat_administrators(GROUP)

    assert admin.status == ChatMemberStatus.ADMINISTRATOR
    assert member.status == ChatMemberStatus.MEMBER
    assert owner.status == ChatMemberStatus.OWNER
    assert {m.user.id for m in admins} == {1, USER, api.bot_id}


async def test_commands_chat_edit_and_callback(api: FakeBotApi) -> None:
    answered = asyncio.Event()

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("ok")
        answered.set()

    async with running(api, CallbackQueryHandler(on_button)) as app:
        bot = app.bot
        await bot.set_my_commands([BotCommand("ping", "check the bot")])
        assert [c.command for c in await bot.get_my_commands()] == ["ping"]
        api.push_channel_post(CHANNEL, "hello", username="kursk_watch", title="Kursk Watch")
        chat = await bot.get_chat("@kursk_watch")
        assert (chat.id, chat.type, chat.title) == (CHANNEL, "channel", "Kursk Watch")
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.get_chat(-100555)

        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Mute", callback_data="mute")]])
        msg = await bot.send_message(GROUP, "draft", reply_markup=keyboard)
        edited = await bot.edit_message_text("final", GROUP, msg.message_id)
        assert edited.text == "final" and edited.edit_date is not None
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_text("final", GROUP, msg.message_id)
        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await bot.edit_message_text("x", GROUP, 9999)

        api.push_callback_query(GROUP, USER, "mute", message_id=msg.message_id)
        await asyncio.wait_for(answered.wait(), 5)

    assert [s.method for s in api.sent] == ["sendMessage", "editMessageText"]
    assert api.message(GROUP, msg.message_id)["text"] == "final"
    answers = [c for c in api.calls if c.method == "answerCallbackQuery"]
    assert answers[0].params["text"] == "ok" and answers[0].status == 200


async def test_unknown_method_and_bad_token(api: FakeBotApi) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{api.base_url}{api.token}/sendTelepathy", data={"chat_id": "1"})
        assert r.status_code == 404
        assert r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        r = await client.get(f"{api.base_url}123:wrong/getMe")
        assert r.status_code == 401 and r.json()["ok"] is False
        # Real clients may also send JSON bodies or query strings.
        r = await client.post(f"{api.base_url}{api.token}/sendMessage",
                              json={"chat_id": GROUP, "text": "json body"})
        assert r.json()["result"]["text"] == "json body"
        r = await client.get(f"{api.base_url}{api.token}/getMe")
        assert r.json()["result"]["username"] == api.bot_username

    bot = Bot(api.token, base_url=api.base_url)
    async with bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": 1})


async def test_get_updates_long_poll_and_offset(api: FakeBotApi) -> None:
    bot = Bot(api.token, base_url=api.base_url)
    async with bot:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await bot.get_updates(timeout=0) == ()
        poll = asyncio.create_task(bot.get_updates(timeout=10))
        await api.wait_for_call("getUpdates", 2)
        api.push_message(GROUP, USER, "hi")
        (update,) = await asyncio.wait_for(poll, 5)
        assert loop.time() - started < 5  # answered on arrival, not at the timeout
        assert update.message.text == "hi"
        # Not confirmed yet: delivered again; confirmed by offset: gone.
        again = await bot.get_updates(timeout=0)
        assert [u.update_id for u in again] == [update.update_id]
        assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
        assert api.pending_updates == []


async def test_hang_next_never_answers_and_is_not_recorded(api: FakeBotApi) -> None:
    api.hang_next("sendMessage")
    bot = Bot(api.token, base_url=api.base_url)
    async with bot:
        task = asyncio.create_task(bot.send_message(GROUP, "lost in flight"))
        (call,) = await api.wait_for_call("sendMessage")
        assert call.status is None and not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await bot.send_message(GROUP, "next one")
    assert [s.text for s in api.sent] == ["next one"]


async def test_push_raw_delivers_the_update_as_given(api: FakeBotApi) -> None:
    got: list[Update] = []
    seen = asyncio.Event()

    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        got.append(update)
        seen.set()

    async with running(api, TypeHandler(Update, on_update)):
        api.push_raw({"update_id": 500, "future_kind": {"anything": 1}})
        await asyncio.wait_for(seen.wait(), 5)

    assert got[0].update_id == 500 and got[0].api_kwargs == {"future_kind": {"anything": 1}}
    assert api.push_message(GROUP, USER, "next")["update_id"] > 500


def test_parse_html_offsets_are_utf16() -> None:
    text, entities = parse_html("🔥 <i>Курск</i> <pre><code class=\"language-py\">x</code></pre>")
    assert text == "🔥 Курск x"
    assert entities == [{"offset": 3, "length": 5, "type": "italic"},
                        {"offset": 9, "length": 1, "type": "pre", "language": "py"}]
