"""This module contains the Telegram platform on python-telegram-bot: sources in, alerts out.

Channel posts (bot is admin), group messages (privacy mode off), edits and media captions become
`Post`s for the pipeline; alerts go out as HTML through PTB's `AIORateLimiter`. Commands are
bound by `handlers.telegram_binding`.

Updates PTB cannot parse are screened out at the transport: PTB parses a whole getUpdates batch
at once, and one bad update would make it re-fetch the same batch forever without confirming it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from typing import TYPE_CHECKING, Any

from telegram import LinkPreviewOptions, Message, MessageOrigin, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.errors import ConfigError, DeliveryError
from bot.model import Alert, Post, Room
from bot.platforms.telegram_render import alert_html, plain_fallback
from bot.settings import TelegramSettings

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)

POLL_TIMEOUT = 20  # seconds of long polling; stopping cancels a poll at once
# Only what wirewatch handles: fewer kinds means fewer surprises from new Bot API features.
ALLOWED_UPDATES = (Update.MESSAGE, Update.EDITED_MESSAGE, Update.CHANNEL_POST,
                   Update.EDITED_CHANNEL_POST)
RATE_LIMIT_RETRIES = 1  # 429s PTB retries in place before the relay reschedules the alert


class ScreenedUpdatesRequest(HTTPXRequest):
    """The getUpdates transport: every update PTB cannot parse is replaced by a bare
    `{"update_id": n}` before PTB sees the batch.

    PTB parses a batch as a whole and confirms it by the last update_id; a parse error loses
    the batch and the next poll fetches it again, forever. A bare update parses, moves the
    offset past the bad one, and matches no handler. `parse_json_payload` is PTB's documented
    hook for custom decoding, and this request object serves getUpdates only.
    """

    def parse_json_payload(self, payload: bytes) -> Any:  # type: ignore[override]
        data = super().parse_json_payload(payload)
        if isinstance(data, dict) and data.get("ok") and isinstance(data.get("result"), list):
            data["result"] = [u for u in map(screen_update, data["result"]) if u is not None]
        return data


class StatusRequest(HTTPXRequest):
    """The transport of every other call, remembering the last HTTP status: PTB raises the
    same InvalidToken for 401 (a revoked token) and 404 (a wrong base_url), with the token
    in its message, and the operator needs to know which of the two it was."""

    last_status: int | None = None

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:  # type: ignore[override]
        code, payload = await super().do_request(*args, **kwargs)
        self.last_status = code
        return code, payload


def screen_update(raw: Any) -> dict[str, Any] | None:
    """The update as given if PTB can parse it; a bare one if not; None without an update_id."""
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        log.warning("skipping an update without a usable update_id: %.300r", raw)
        return None
    try:
        Update.de_json(raw, None)
    except Exception as exc:  # any parse failure: KeyError, TypeError, AttributeError ...
        kinds = ", ".join(k for k in raw if k != "update_id") or "nothing"
        log.warning("skipping update %s (%s) that python-telegram-bot cannot parse: %s: %s",
                    update_id, kinds, type(exc).__name__, exc)
        return {"update_id": update_id}
    return raw


def origin_name(origin: MessageOrigin | None) -> str | None:
    """A readable name for where a forwarded message came from."""
    if origin is None:
        return None
    chat = getattr(origin, "chat", None) or getattr(origin, "sender_chat", None)
    if chat is not None:
        handle = f"@{chat.username}" if chat.username else None
        if chat.title and handle:
            return f"{chat.title} ({handle})"
        return chat.title or handle or str(chat.id)
    user = getattr(origin, "sender_user", None)
    if user is not None:
        return user.full_name
    return getattr(origin, "sender_user_name", None)


def message_link(message: Message) -> str | None:
    """https://t.me/<username>/<id> for public chats, the t.me/c/ form for private ones."""
    chat = message.chat
    if chat.username:
        return f"https://t.me/{chat.username}/{message.message_id}"
    chat_id = str(chat.id)
    if chat_id.startswith("-100"):
        return f"https://t.me/c/{chat_id[4:]}/{message.message_id}"
    return None  # basic groups and private chats have no links


def message_to_post(message: Message, source_id: str, edited: bool) -> Post | None:
    text = message.text or message.caption or ""
    if not text.strip():
        return None  # stickers, photos without caption, service messages
    author = None
    if message.from_user is not None and message.sender_chat is None:
        author = message.from_user.full_name
    elif message.author_signature:
        author = message.author_signature
    elif message.sender_chat is not None:
        author = message.sender_chat.title
    elif message.chat.title:
        author = message.chat.title
    return Post(
        source_id=source_id, platform="telegram", chat=str(message.chat.id),
        message_id=str(message.message_id), text=text, date=message.date, author=author,
        url=message_link(message), edited=edited, origin=origin_name(message.forward_origin),
    )


def _seconds(exc: RetryAfter) -> float:
    # PTB 22 warns that retry_after becomes a timedelta; accept both without the noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        delay = exc.retry_after
    return delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)


def _chat_id(chat: str) -> int | str:
    return int(chat) if chat.lstrip("-").isdigit() else chat


class TelegramPlatform:
    """Receives (getUpdates, commands) and sends; with `receive=False` (a relay process) it
    only sends and edits: no Updater, no getUpdates, no command menu."""

    name = "telegram"

    def __init__(self, app: App, settings: TelegramSettings, *, receive: bool = True) -> None:
        self.app = app
        self.settings = settings
        self.receive = receive
        self.application: Application | None = None
        self._updates_request: ScreenedUpdatesRequest | None = None
        self._bot_request: StatusRequest | None = None
        self._sources: dict[str, str] = {}  # chat id or lower-case username -> source id
        self._sources_revision = -1

    def build(self, token: str) -> Application:
        self._bot_request = StatusRequest(connection_pool_size=256)
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(self.settings.base_url)
            .base_file_url(self.settings.base_file_url)
            .request(self._bot_request)
            .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        )
        if not self.receive:
            return builder.updater(None).build()
        self._updates_request = ScreenedUpdatesRequest(connection_pool_size=1)
        application = builder.get_updates_request(self._updates_request).build()
        from handlers.telegram_binding import register

        assert self.app.services is not None
        register(application, self.app.services, self.settings)
        updates = filters.UpdateType.CHANNEL_POSTS | filters.UpdateType.MESSAGES
        # Group 1: commands (group 0) never count as posts, posts never as commands.
        application.add_handler(MessageHandler(updates & ~filters.COMMAND, self._on_post), group=1)
        return application

    async def start(self) -> None:
        token = os.environ.get(self.settings.token_env, "").strip()
        if not token:
            raise ConfigError(f"Telegram needs a bot token: set the environment variable "
                              f"{self.settings.token_env} (from @BotFather)")
        application = self.build(token)
        try:
            await application.initialize()  # getMe: checks the token and the server
            if self.receive:
                from handlers.telegram_binding import set_menu

                await set_menu(application)
                await application.start()
                assert application.updater is not None
                # Pending updates are kept: posts that arrived while we were down still count.
                await application.updater.start_polling(
                    allowed_updates=list(ALLOWED_UPDATES), timeout=POLL_TIMEOUT,
                    drop_pending_updates=False,
                )
        except BaseException as exc:
            await self._shutdown(application)
            if isinstance(exc, InvalidToken):
                # PTB's message quotes the token: name only the variable that holds it.
                raise ConfigError(self._refusal()) from None
            raise
        self.application = application
        log.info("telegram: %s as @%s", "polling" if self.receive else "sending only",
                 application.bot.username)

    def _refusal(self) -> str:
        env, status = self.settings.token_env, self._bot_request.last_status if self._bot_request else None
        if status == 404:
            return (f"Telegram answered 404 Not Found at {self.settings.base_url}: check "
                    f"telegram.base_url, or the format of the token in {env}")
        return (f"{env} was refused by Telegram ({status or 401} Unauthorized): the token was "
                f"revoked or mistyped; copy the current one from @BotFather")

    async def stop(self) -> None:
        application, self.application = self.application, None
        if application is not None:
            await self._shutdown(application)

    async def _shutdown(self, application: Application) -> None:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        # A start that failed in getMe leaves PTB "not initialised", so its shutdown skips
        # the HTTP clients; close them here (closing twice is harmless).
        await application.bot.request.shutdown()
        if self._updates_request is not None:
            await self._updates_request.shutdown()

    # -- sources --------------------------------------------------------------------------

    def _source_for(self, chat_id: int, username: str | None) -> str | None:
        revision = self.app.store.revision()
        if revision != self._sources_revision:  # sources changed (/sources add, another process)
            found: dict[str, str] = {}
            for source in self.app.store.sources():
                if source.platform == "telegram" and source.enabled:
                    found.setdefault(source.address.removeprefix("@").lower(), source.id)
            self._sources, self._sources_revision = found, revision
        by_id = self._sources.get(str(chat_id))
        return by_id or (self._sources.get(username.lower()) if username else None)

    def _forwarded_from_source(self, message: Message) -> bool:
        chat = getattr(message.forward_origin, "chat", None) or message.sender_chat
        return chat is not None and self._source_for(chat.id, chat.username) is not None

    async def _on_post(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        source_id = self._source_for(message.chat.id, message.chat.username)
        if source_id is None:
            return  # a room or an unconfigured chat: not monitored
        if message.is_automatic_forward and self._forwarded_from_source(message):
            return  # a channel's copy in its discussion group: the channel post alerted already
        edited = update.edited_channel_post is not None or update.edited_message is not None
        post = message_to_post(message, source_id, edited)
        if post is not None:
            await self.app.ingest(post, wait=False)  # confirmed to the platform: hold, go on
            self.app.source_health.recorder(source_id, "telegram").seen(post)  # for /status

    # -- delivery -------------------------------------------------------------------------

    async def send(self, room: Room, alert: Alert) -> str | None:
        html = alert_html(self.app.engine.renderer.view(alert))
        thread = int(room.thread) if room.thread else None
        message = await self._call("send", room, chat_id=_chat_id(room.chat), text=html,
                                   message_thread_id=thread)
        return f"{message.chat_id}:{message.message_id}"

    async def edit(self, room: Room, ref: str, alert: Alert) -> None:
        chat_id, _, message_id = ref.rpartition(":")
        html = alert_html(self.app.engine.renderer.view(alert))
        await self._call("edit", room, chat_id=_chat_id(chat_id), message_id=int(message_id),
                         text=html)

    async def _call(self, kind: str, room: Room, **kwargs: Any) -> Message:
        if self.application is None:
            raise DeliveryError("telegram is not running")
        try:
            return await self._request(kind, kwargs, html=True)
        except BadRequest as exc:
            text = exc.message.lower()
            if "can't parse entities" in text or "too long" in text:
                # Our markup is at fault, not the post: deliver it as plain text anyway.
                log.error("telegram rejected our HTML (%s); sending the alert as plain text",
                          exc.message)
                try:
                    return await self._request(kind, kwargs, html=False)
                except TelegramError as again:
                    raise self._delivery_error(again, room) from again
            raise self._delivery_error(exc, room) from exc
        except TelegramError as exc:
            raise self._delivery_error(exc, room) from exc

    async def _request(self, kind: str, kwargs: dict[str, Any], *, html: bool) -> Message:
        assert self.application is not None
        bot = self.application.bot
        args = dict(kwargs)
        if not html:
            args["text"] = plain_fallback(args["text"])
        common: dict[str, Any] = {"link_preview_options": LinkPreviewOptions(is_disabled=True),
                                  "parse_mode": ParseMode.HTML if html else None}
        if kind == "send":
            return await bot.send_message(**args, **common)
        try:
            result = await bot.edit_message_text(**args, **common)
        except BadRequest as exc:
            if "not modified" in exc.message.lower():  # the edit is already there: success
                return None  # type: ignore[return-value]
            raise
        return result if isinstance(result, Message) else None  # type: ignore[return-value]

    def _delivery_error(self, exc: TelegramError, room: Room) -> DeliveryError:
        """Map a Bot API error to the relay's terms: when to retry, and whether ever."""
        if isinstance(exc, RetryAfter):
            seconds = _seconds(exc)
            return DeliveryError(f"telegram flood limit: retry after {seconds:g}s",
                                 retry_after=seconds)
        if isinstance(exc, ChatMigrated):
            # A group became a supergroup: follow it, and let the relay retry at once.
            self.app.store.upsert_room(dataclasses.replace(room, chat=str(exc.new_chat_id)))
            log.warning("room %s: chat %s moved to %s", room.id, room.chat, exc.new_chat_id)
            return DeliveryError(f"telegram chat moved to {exc.new_chat_id}", retry_after=0)
        if isinstance(exc, Forbidden):
            return DeliveryError(f"telegram refused: {exc.message}", permanent=True)
        if isinstance(exc, BadRequest):  # chat or topic not found, bad id: retrying won't help
            return DeliveryError(f"telegram bad request: {exc.message}", permanent=True)
        if isinstance(exc, NetworkError):
            return DeliveryError(f"telegram network error: {exc.message}")
        return DeliveryError(f"telegram error: {exc.message}")
