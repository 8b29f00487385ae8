"""This module contains the Telegram binding of the command table: Update <-> Request/Reply.

Every command of `handlers.COMMANDS` gets a `CommandHandler` (which also accepts the
`/cmd@thisbot` form groups use); any other command gets a short "unknown command" answer,
and commands addressed to another bot (`/cmd@otherbot`) are left alone.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from cachetools import TTLCache
from telegram import BotCommand, LinkPreviewOptions, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from bot.platforms.telegram_render import reply_html
from bot.settings import TelegramSettings
from handlers import COMMANDS, Services, dispatch
from handlers.request import Request

log = logging.getLogger(__name__)

_ADMIN = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
_CACHE_MAX = 4096  # (chat, user) answers kept; the least recently used go beyond this
SORRY = "Sorry, something went wrong on our side; it has been logged."


class ModeratorCheck:
    """Chat administrators (asked with getChatMember, cached briefly) or configured user ids."""

    def __init__(self, settings: TelegramSettings) -> None:
        self.settings = settings
        self._cache: TTLCache[tuple[int, int], bool] = TTLCache(
            maxsize=_CACHE_MAX, ttl=settings.admin_cache_seconds, timer=time.monotonic)

    def is_operator(self, update: Update) -> bool:
        """A person (not a chat speaking) whose user id the config lists."""
        user, message = update.effective_user, update.effective_message
        return (user is not None and message is not None and message.sender_chat is None
                and user.id in self.settings.moderators)

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        chat = update.effective_chat
        message = update.effective_message
        if chat is None or message is None:
            return False
        if chat.type == ChatType.CHANNEL:
            return True  # only a channel's admins can post in it
        if message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous group admin posts as the group itself
        if self.is_operator(update):
            return True
        user = update.effective_user
        if user is None or message.sender_chat is not None:
            return False  # a linked channel or another chat speaking: not a person we can check
        if chat.type == ChatType.PRIVATE:
            return False  # anyone can open a private chat: only configured ids moderate there
        key = (chat.id, user.id)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            member = await context.bot.get_chat_member(chat.id, user.id)
        except TelegramError as exc:
            log.warning("getChatMember failed for %s in %s: %s", user.id, chat.id, exc)
            return False  # when in doubt, change nothing
        allowed = member.status in _ADMIN
        self._cache[key] = allowed
        return allowed


def command_of(message: Message) -> tuple[str, str, str]:
    """(`name`, `@bot` it is addressed to or "", the arguments) of a command message."""
    parts = (message.text or "").split(maxsplit=1)
    head = parts[0] if parts else ""
    name, _, addressed = head.removeprefix("/").partition("@")
    return name.lower(), addressed, parts[1].strip() if len(parts) > 1 else ""


def to_request(update: Update, is_moderator: bool) -> Request | None:
    message = update.effective_message
    if message is None or not (message.text or "").startswith("/"):
        return None
    name, _, args = command_of(message)
    if not name:
        return None
    user = update.effective_user
    sender = message.sender_chat
    thread = message.message_thread_id if message.is_topic_message else None
    if sender is not None or user is None:  # anonymous admins and channels speak as a chat
        speaker = sender or message.chat
        user_id, user_name = str(speaker.id), speaker.title or speaker.username or ""
    else:
        user_id, user_name = str(user.id), user.full_name
    return Request(
        command=name, args=args, platform="telegram", chat=str(message.chat.id),
        user_id=user_id, user_name=user_name, thread=str(thread) if thread else None,
        is_moderator=is_moderator,
    )


def register(application: Application, services: Services, settings: TelegramSettings) -> None:
    """Add one handler for every command of the table, plus unknown commands and errors."""
    check = ModeratorCheck(settings)

    async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        _, addressed, _ = command_of(message)
        if addressed and addressed.lower() != (context.bot.username or "").lower():
            return  # `/recent@otherbot` is for another bot in the group
        req = to_request(update, is_moderator=False)
        if req is None:
            return
        if req.command in COMMANDS:  # no getChatMember for unknown commands
            req = dataclasses.replace(req, is_moderator=await check(update, context),
                                      is_operator=check.is_operator(update))
        reply = await dispatch(req, services)
        await message.reply_html(
            reply_html(reply), link_preview_options=LinkPreviewOptions(is_disabled=True),
            do_quote=False,
        )

    # New messages only: editing an old `/subscribe` must not subscribe a second time.
    fresh = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
    application.add_handler(CommandHandler(list(COMMANDS), on_command, filters=fresh))
    application.add_handler(MessageHandler(filters.COMMAND & fresh, on_command))
    application.add_error_handler(on_error)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every unexpected error; answer a command briefly instead of going silent, but
    never talk back in a monitored channel because one of its posts failed."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    message = update.effective_message
    if message is None or update.edited_message or update.edited_channel_post:
        return
    if not (message.text or "").startswith("/"):
        return
    try:
        await message.reply_text(SORRY, do_quote=False)
    except TelegramError:
        log.warning("could not tell the user about the error", exc_info=True)


async def set_menu(application: Application) -> None:
    """Publish the command menu (Telegram's `/` list) from the same table as /help."""
    commands = [BotCommand(c.name, (c.summary or c.name)[:256]) for c in COMMANDS.values()]
    try:
        await application.bot.set_my_commands(commands)
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)


__all__ = ["ModeratorCheck", "command_of", "on_error", "register", "set_menu", "to_request"]
