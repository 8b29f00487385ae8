"""This module contains what command handlers may use: the store and the analysis engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.errors import NotAllowed
from bot.model import Room
from bot.pipeline.entities import Watchlist
from bot.pipeline.runner import Pipeline
from bot.pipeline.topics import Topics
from bot.ports import Store, Translator
from handlers.request import Request


@dataclass
class Services:
    store: Store
    pipeline: Pipeline
    watchlist: Watchlist
    topics: Topics
    translator: Translator | None = None
    watched_languages: tuple[str, ...] = ("en", "ru", "uk", "ko")
    health: Callable[[], dict[str, Any]] = dict  # per-part health for /status
    started: float = field(default_factory=time.time)
    proposals: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    source_kinds: tuple[str, ...] = ("telegram_public",)  # what /sources add may add here

    def room_for(self, platform: str, chat: str, thread: str | None = None) -> Room | None:
        room = self.store.find_room(platform, chat, thread)
        if room is None and thread is not None:
            room = self.store.find_room(platform, chat, None)
        return room

    def room_to_change(self, req: Request) -> Room:
        """The room a moderator's change applies to: exactly this chat (or forum topic).

        A chat that is not a room yet becomes one only for an operator: otherwise anyone who
        adds the bot to a group of their own could subscribe it to the newsroom's sources."""
        room = self.store.find_room(req.platform, req.chat, req.thread)
        if room is not None:
            return room
        if not req.is_operator:
            where = "forum topic" if req.thread else "chat"
            raise NotAllowed(f"This {where} is not a wirewatch room. An operator (a user id "
                             f"listed in the config) can make it one, or add it to the config.")
        # Telegram chats are negative (groups, channels) or positive (private): keep them apart.
        chat = req.chat[1:] if req.chat.startswith("-") else ("p" + req.chat if req.platform == "telegram" else req.chat)
        room_id = f"{req.platform}-{chat}" + (f"-{req.thread}" if req.thread else "")
        parent = self.store.find_room(req.platform, req.chat, None) if req.thread else None
        language = parent.language if parent else "en"
        return self.store.upsert_room(Room(room_id, req.platform, req.chat, req.thread, language))
