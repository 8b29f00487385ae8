"""This module contains the Telegram binding of the command table: Update <-> Request/Reply."""

from __future__ import annotations

import dataclasses
import logging
import time

from telegram import BotCommand, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from bot.platforms.telegram_render import reply_html
from bot.settings import TelegramSettings
from handlers import COMMANDS, Services, dispatch
from handlers.request import Request

log = logging.getLogger(__name__)

_ADMIN = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


class ModeratorCheck:
    """Chat administrators (asked with getChatMember, cached briefly) or configured user ids."""

    def __init__(self, settings: TelegramSettings) -> None:
        self.settings = settings
        self._cache: dict[tuple[int, int], tuple[float, bool]] = {}

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        chat = update.effective_chat
        message = update.effective_message
        if chat is None or message is None:
            return False
        if chat.type == ChatType.CHANNEL:
            return True  # only a channel's admins can post in it
        if message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous group admin posts as the group itself
        user = update.effective_user
        if user is None:
            return False
        if user.id in self.settings.moderators:
            return True
        if chat.type == ChatType.PRIVATE:
            return True  # a private chat is the user's own room
        key = (chat.id, user.id)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached and now - cached[0] < self.settings.admin_cache_seconds:
            return cached[1]
        try:
            member = await context.bot.get_chat_member(chat.id, user.id)
            allowed = member.status in _ADMIN
        except TelegramError as exc:
            log.warning("getChatMember failed for %s in %s: %s", user.id, chat.id, exc)
            return False  # when in doubt, change nothing
        self._cache[key] = (now, allowed)
        return allowed


def to_request(update: Update, is_moderator: bool) -> Request | None:
    message = update.effective_message
    if message is None or not message.text:
        return None
    head, _, args = message.text.partition(" ")
    if not head.startswith("/"):
        return None
    name = head[1:].split("@", 1)[0]
    user = update.effective_user
    thread = message.message_thread_id if message.is_topic_message else None
    return Request(
        command=name.lower(), args=args.strip(), platform="telegram", chat=str(message.chat.id),
        user_id=str(user.id if user else message.chat.id),
        user_name=(user.full_name if user else message.chat.title) or "",
        thread=str(thread) if thread else None, is_moderator=is_moderator,
    )


def register(application: Application, services: Services, settings: TelegramSettings) -> None:
    """Add one handler for every command of the table, plus unknown commands and errors."""
    check = ModeratorCheck(settings)

    async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        text = message.text or ""
        addressed = text.split()[0].partition("@")[2] if text else ""
        if addressed and addressed.lower() != (context.bot.username or "").lower():
            return  # `/recent@otherbot` is for another bot in the group
        req = to_request(update, is_moderator=False)
        if req is None:
            return
        if req.command in COMMANDS:  # no admin lookup for unknown commands
            req = dataclasses.replace(req, is_moderator=await check(update, context))
        reply = await dispatch(req, services)
        await message.reply_html(
            reply_html(reply), disable_web_page_preview=True, do_quote=False,
        )

    commands = filters.UpdateType.MESSAGES | filters.UpdateType.CHANNEL_POST
    application.add_handler(CommandHandler(list(COMMANDS), on_command, filters=commands))
    application.add_handler(MessageHandler(filters.COMMAND & commands, on_command))
    application.add_error_handler(on_error)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every unexpected error, and answer the user briefly instead of going silent."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text(
                "Sorry, something went wrong on our side; it has been logged.", do_quote=False
            )
        except TelegramError:
            pass


async def set_menu(application: Application) -> None:
    """Publish the command menu (Telegram's `/` list) from the same table as /help."""
    commands = [BotCommand(c.name, c.summary[:256]) for c in COMMANDS.values()]
    try:
        await application.bot.set_my_commands(commands)
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)


__all__ = ["ModeratorCheck", "ParseMode", "register", "set_menu", "to_request"]
