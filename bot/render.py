"""This module contains the platform-neutral view of an alert: what every platform shows.

Each platform turns an `AlertView` into its own markup (HTML for Telegram, an embed for
Discord, rich text on the console); none of them decides *what* an alert says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.languages import NAMES
from bot.model import Alert, Post, SourceRef

LANGUAGE_NAMES = {**NAMES, "und": "unknown"}  # bot.languages holds the one list


def language_name(code: str | None) -> str:
    if not code:
        return "unknown"
    return LANGUAGE_NAMES.get(code, code)


@dataclass(frozen=True, slots=True)
class EntityLabel:
    id: str
    name: str
    hashtag: str


@dataclass(frozen=True, slots=True)
class AlertView:
    room_id: str
    source: str
    link: str | None
    lang: str | None
    entities: tuple[EntityLabel, ...]
    topics: tuple[str, ...]
    subscription: str
    original: str
    translation: str | None  # None when not needed (same language) or unavailable
    note: str | None  # e.g. "translation unavailable"
    date: datetime
    extra_sources: int = 0
    edited: bool = False
    also: tuple[SourceRef, ...] = ()  # the later reports of the story, oldest first

    def also_names(self, most: int = 5) -> str:
        """"rbc, kyiv +3 more": the later sources by name, for one line."""
        names = list(dict.fromkeys(a.source for a in self.also))
        text = ", ".join(names[:most])
        return text + (f" +{len(names) - most} more" if len(names) > most else "")

    @property
    def headline(self) -> str:
        """First line of what the reader will read first."""
        return first_line(self.translation or self.original)

    @property
    def language_label(self) -> str:
        return f"{language_name(self.lang)} ({self.lang or 'und'})"


def post_link(post: Post) -> str | None:
    """A link to the original post, when the platform has one."""
    if post.url:
        return post.url
    if post.platform == "telegram":
        chat = post.chat
        if chat.startswith("-100"):  # private supergroup/channel: the t.me/c/ form
            return f"https://t.me/c/{chat[4:]}/{post.message_id}"
    return None


def first_line(text: str, limit: int = 200) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return truncate(line, limit)
    return ""


_WORD_END_RE = re.compile(r"\s+\S*$")


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut `text` to at most `limit` characters at a word boundary, marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    trimmed = _WORD_END_RE.sub("", cut)
    if len(trimmed) >= len(cut) * 0.6:  # only back off to a space if it loses little
        cut = trimmed
    return cut.rstrip() + ellipsis


class Renderer:
    """Builds alert views; knows entity names through a lookup (the watchlist)."""

    def __init__(self, entity_label: dict[str, EntityLabel] | None = None) -> None:
        self._labels = entity_label or {}

    def label(self, entity_id: str) -> EntityLabel:
        found = self._labels.get(entity_id)
        if found:
            return found
        name = entity_id.replace("_", " ").title()
        return EntityLabel(entity_id, name, name.replace(" ", ""))

    def view(self, alert: Alert) -> AlertView:
        return AlertView(
            room_id=alert.room_id,
            source=alert.post.source_id + (f" (via {alert.post.origin})" if alert.post.origin else ""),
            link=post_link(alert.post),
            lang=alert.analysis.lang,
            entities=tuple(self.label(e) for e in alert.analysis.entity_ids),
            topics=alert.analysis.topics,
            subscription=alert.subscription_id,
            original=alert.post.text,
            translation=alert.translation,
            note=alert.translation_note,
            date=alert.post.date,
            extra_sources=alert.extra_sources,
            edited=alert.post.edited,
            also=alert.also,
        )
