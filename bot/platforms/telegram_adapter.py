"""This module contains the Telegram platform on python-telegram-bot: sources in, alerts out.

Channel posts (bot is admin), group messages (privacy mode off), edits and media captions become
`Post`s for the pipeline; alerts go out as HTML through PTB's `AIORateLimiter`. Commands are
bound by `handlers.telegram_binding`.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from telegram import LinkPreviewOptions, Message, MessageOrigin, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.errors import ConfigError, DeliveryError
from bot.model import Alert, Post, Room
from bot.platforms.telegram_render import alert_html
from bot.settings import TelegramSettings

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)


def origin_name(origin: MessageOrigin | None) -> str | None:
    """A readable name for where a forwarded message came from."""
    if origin is None:
        return None
    chat = getattr(origin, "chat", None) or getattr(origin, "sender_chat", None)
    if chat is not None:
        return chat.title or (f"@{chat.username}" if chat.username else str(chat.id))
    user = getattr(origin, "sender_user", None)
    if user is not None:
        return user.full_name
    return getattr(origin, "sender_user_name", None)


def message_link(message: Message) -> str | None:
    chat = message.chat
    if chat.username:
        return f"https://t.me/{chat.username}/{message.message_id}"
    chat_id = str(chat.id)
    if chat_id.startswith("-100"):
        return f"https://t.me/c/{chat_id[4:]}/{message.message_id}"
    return None


def message_to_post(message: Message, source_id: str, edited: bool) -> Post | None:
    text = message.text or message.caption or ""
    if not text.strip():
        return None  # stickers, photos without caption, service messages
    author = None
    if message.from_user is not None:
        author = message.from_user.full_name
    elif message.author_signature:
        author = message.author_signature
    elif message.chat.title:
        author = message.chat.title
    return Post(
        source_id=source_id, platform="telegram", chat=str(message.chat.id),
        message_id=str(message.message_id), text=text, date=message.date, author=author,
        url=message_link(message), edited=edited, origin=origin_name(message.forward_origin),
    )


class TelegramPlatform:
    name = "telegram"

    def __init__(self, app: App, settings: TelegramSettings) -> None:
        self.app = app
        self.settings = settings
        self.application: Application | None = None

    def build(self, token: str) -> Application:
        application = (
            ApplicationBuilder()
            .token(token)
            .base_url(self.settings.base_url)
            .base_file_url(self.settings.base_file_url)
            .rate_limiter(AIORateLimiter(max_retries=2))
            .build()
        )
        from handlers.telegram_binding import register

        assert self.app.services is not None
        register(application, self.app.services, self.settings)
        updates = filters.UpdateType.CHANNEL_POSTS | filters.UpdateType.MESSAGES
        application.add_handler(MessageHandler(updates & ~filters.COMMAND, self._on_post), group=1)
        return application

    async def start(self) -> None:
        token = os.environ.get(self.settings.token_env, "").strip()
        if not token:
            raise ConfigError(f"Telegram needs a bot token: set the environment variable "
                              f"{self.settings.token_env} (from @BotFather)")
        self.application = self.build(token)
        await self.application.initialize()
        from handlers.telegram_binding import set_menu

        await set_menu(self.application)
        await self.application.start()
        assert self.application.updater is not None
        await self.application.updater.start_polling(
            allowed_updates=Update.ALL_TYPES, timeout=20, drop_pending_updates=False
        )

    async def stop(self) -> None:
        application = self.application
        if application is None:
            return
        self.application = None
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()

    def _source_for(self, chat_id: int, username: str | None) -> str | None:
        for source in self.app.store.sources():
            if source.platform != "telegram" or not source.enabled:
                continue
            address = source.address.removeprefix("@").lower()
            if address == str(chat_id) or (username and address == username.lower()):
                return source.id
        return None

    async def _on_post(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        source_id = self._source_for(message.chat.id, message.chat.username)
        if source_id is None:
            return  # a room or an unconfigured chat: not monitored
        edited = update.edited_channel_post is not None or update.edited_message is not None
        post = message_to_post(message, source_id, edited)
        if post is not None:
            await self.app.ingest(post)

    # -- delivery -------------------------------------------------------------------------

    async def send(self, room: Room, alert: Alert) -> str | None:
        html = alert_html(self.app.engine.renderer.view(alert))
        message = await self._call(
            "send", chat_id=int(room.chat), text=html,
            message_thread_id=int(room.thread) if room.thread else None,
        )
        return f"{message.chat_id}:{message.message_id}"

    async def edit(self, room: Room, ref: str, alert: Alert) -> None:
        chat_id, _, message_id = ref.rpartition(":")
        html = alert_html(self.app.engine.renderer.view(alert))
        await self._call("edit", chat_id=int(chat_id), message_id=int(message_id), text=html)

    async def _call(self, kind: str, **kwargs: Any) -> Message:
        if self.application is None:
            raise DeliveryError("telegram is not running")
        bot = self.application.bot
        common = {"parse_mode": ParseMode.HTML,
                  "link_preview_options": LinkPreviewOptions(is_disabled=True)}
        try:
            if kind == "send":
                return await bot.send_message(**kwargs, **common)
            result = await bot.edit_message_text(**kwargs, **common)
            return result if isinstance(result, Message) else None  # type: ignore[return-value]
        except RetryAfter as exc:
            delay = exc.retry_after
            seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)
            raise DeliveryError(f"telegram flood limit: retry after {seconds:.0f}s",
                                retry_after=seconds) from exc
        except Forbidden as exc:
            raise DeliveryError(f"telegram refused: {exc.message}", permanent=True) from exc
        except BadRequest as exc:
            # 'message is not modified' on an edit is success; a missing chat is permanent.
            if "not modified" in exc.message.lower():
                return None  # type: ignore[return-value]
            raise DeliveryError(f"telegram bad request: {exc.message}", permanent=True) from exc
        except NetworkError as exc:
            raise DeliveryError(f"telegram network error: {exc.message}") from exc
        except TelegramError as exc:
            raise DeliveryError(f"telegram error: {exc.message}") from exc
