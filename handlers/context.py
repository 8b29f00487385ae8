"""This module contains what command handlers may use: the store and the analysis engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.model import Room
from bot.pipeline.entities import Watchlist
from bot.pipeline.runner import Pipeline
from bot.pipeline.topics import Topics
from bot.ports import Store


@dataclass
class Services:
    store: Store
    pipeline: Pipeline
    watchlist: Watchlist
    topics: Topics
    translator: Any | None = None
    watched_languages: tuple[str, ...] = ("en", "ru", "uk", "ko")
    health: Callable[[], dict[str, Any]] = dict  # per-part health for /status
    started: float = field(default_factory=time.time)
    proposals: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def room_for(self, platform: str, chat: str, thread: str | None = None) -> Room | None:
        room = self.store.find_room(platform, chat, thread)
        if room is None and thread is not None:
            room = self.store.find_room(platform, chat, None)
        return room

    def ensure_room(self, platform: str, chat: str, thread: str | None = None) -> Room:
        """The room of this chat, created on a moderator's first change if not configured."""
        room = self.room_for(platform, chat, thread)
        if room is None:
            room_id = f"{platform}-{chat.lstrip('-')}" + (f"-{thread}" if thread else "")
            room = self.store.upsert_room(Room(room_id, platform, chat, thread, "en"))
        return room
