"""This module contains the neutral domain values that flow through wirewatch.

Platform objects (PTB updates, discord.py messages) stop at the adapters; everything past them
speaks in these frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Post:
    """One item seen on a source: a channel post, a chat message, a feed entry."""

    source_id: str
    platform: str  # telegram | discord | rss | telegram_public | replay | demo
    chat: str
    message_id: str
    text: str  # message text, or the caption of a media post
    date: datetime = field(default_factory=utcnow)
    author: str | None = None
    url: str | None = None
    edited: bool = False
    origin: str | None = None  # where a forwarded/crossposted post came from

    @property
    def key(self) -> str:
        """Stable identity of the post across edits: unique per source."""
        return f"{self.source_id}:{self.chat}:{self.message_id}"


@dataclass(frozen=True, slots=True)
class Mention:
    """An entity named in a text; offsets index the post text after NFC."""

    entity_id: str
    surface: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    room_id: str
    query: str
    paused: bool = False
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class Room:
    """A place alerts are delivered to."""

    id: str
    platform: str  # telegram | discord | console | webhook
    chat: str = ""
    thread: str | None = None  # forum topic / Discord thread
    language: str = "en"


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the pipeline learnt about a post before any room sees it."""

    mentions: tuple[Mention, ...] = ()
    topics: tuple[str, ...] = ()
    lang: str | None = None
    lang_confidence: float = 0.0
    implied: tuple[str, ...] = ()  # ids the mentions imply (watchlist `implies:`), not named

    @property
    def entity_ids(self) -> tuple[str, ...]:
        """The entities the text names, in order of first mention."""
        seen: dict[str, None] = {}
        for m in self.mentions:
            seen.setdefault(m.entity_id)
        return tuple(seen)

    @property
    def matched_ids(self) -> tuple[str, ...]:
        """What `entity:` atoms see: the named entities, then the implied ones."""
        return self.entity_ids + self.implied


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A later report of an alert's story: who said it, where to read it."""

    source: str  # source id (or its name)
    link: str | None = None
    post_key: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """One post for one room, because of one subscription. Unique per (post, room)."""

    post: Post
    room_id: str
    subscription_id: str
    analysis: Analysis
    id: int | None = None
    translation: str | None = None
    translation_note: str | None = None  # e.g. "translation unavailable"
    extra_sources: int = 0  # grouped reports of the same story ("+N sources")
    story_id: str | None = None  # the story this alert stands for (key of its first post)
    also: tuple[SourceRef, ...] = ()  # the later reports, oldest first (the newest last)

    @property
    def dedup_key(self) -> str:
        return f"{self.post.key}>{self.room_id}"
