"""This module contains the Telegram HTML for alerts and replies.

Every piece of post text is escaped: a post can carry `<script>`, fake tags or entity soup and
it still arrives as text. Messages stay under Telegram's 4,096-character limit by cutting the
post text, never the link or the metadata.
"""

from __future__ import annotations

from html import escape

from bot.render import AlertView, truncate
from handlers.request import Reply

LIMIT = 4096


def _e(text: str) -> str:
    return escape(text, quote=False)


def alert_html(view: AlertView, limit: int = LIMIT) -> str:
    """Translation first, then the original in an expandable quote, then the facts."""
    meta = [f"🌐 {_e(view.language_label)}"]
    if view.entities:
        meta.append("📍 " + _e(", ".join(e.name for e in view.entities)))
    if view.topics:
        meta.append("🏷 " + _e(", ".join(view.topics)))
    tail = " · ".join(meta)
    if view.entities:
        tail += "\n" + " ".join("#" + _e(e.hashtag) for e in view.entities)
    tail += f"\n🔔 {_e(view.subscription)} · 📰 {_e(view.source)}"
    if view.extra_sources:
        tail += f" · +{view.extra_sources} sources"
    if view.link:
        tail += f'\n<a href="{escape(view.link, quote=True)}">Original post</a>'
    note = f"\n<i>⚠ {_e(view.note)}</i>" if view.note else ""
    edited = " <i>(edited)</i>" if view.edited else ""

    def build(translation: str | None, original: str) -> str:
        parts = []
        if translation:
            parts.append(_e(translation) + edited)
            parts.append(f"<blockquote expandable>{_e(original)}</blockquote>")
        else:
            parts.append(f"<blockquote expandable>{_e(original)}</blockquote>{edited}")
        return "\n".join(parts) + note + "\n\n" + tail

    translation, original = view.translation, view.original
    html = build(translation, original)
    # Cut the longer text first until it fits; escaping makes lengths uneven, so iterate.
    while len(html) > limit:
        over = len(html) - limit
        if translation and len(translation) >= len(original):
            translation = truncate(translation, max(20, len(translation) - over - 16))
        elif len(original) > 20:
            original = truncate(original, max(20, len(original) - over - 16))
        else:
            break
        html = build(translation, original)
    return html


def reply_html(reply: Reply, limit: int = LIMIT) -> str:
    lines = [_e(reply.text)]
    for item in reply.items:
        title = _e(item.title)
        if item.url:
            title = f'<a href="{escape(item.url, quote=True)}">{title}</a>'
        entry = f"\n• <b>{title}</b>"
        if item.meta:
            entry += f"\n<i>{_e(item.meta)}</i>"
        if len("".join(lines)) + len(entry) > limit - 20:
            lines.append("\n…")
            break
        lines.append(entry)
    html = "".join(lines)
    return html if len(html) <= limit else _e(truncate(reply.text, limit - 100))
