"""This module contains the Telegram HTML for alerts and replies.

Every piece of post text is escaped: a post can carry `<script>`, fake tags or entity soup and
it still arrives as text. Telegram's 4,096-character limit counts the text *after* the markup
is parsed, in UTF-16 code units (an emoji is two); messages are measured that way and kept
under it by cutting the post text at a word, never the link or the metadata.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape, unescape

from bot.render import AlertView, truncate
from handlers.request import Reply

LIMIT = 4096

_TAG_RE = re.compile(r"<[^<>]+>")
_NON_WORD_RE = re.compile(r"\W+")


def _e(text: str) -> str:
    return escape(text, quote=False)


def _a(url: str, title_html: str) -> str:
    """A link; `title_html` is escaped already."""
    return f'<a href="{escape(url, quote=True)}">{title_html}</a>'


def units(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def visible(html: str) -> str:
    """The text a reader sees: our tags removed, entities decoded (post text has no tags
    left after escaping, so every tag here is one of ours)."""
    return unescape(_TAG_RE.sub("", html))


def visible_units(html: str) -> int:
    return units(visible(html))


def cut(text: str, budget: int) -> str:
    """`text` cut at a word boundary, with an ellipsis, to at most `budget` UTF-16 units."""
    if units(text) <= budget:
        return text
    if budget <= 1:
        return "…"[:budget]
    # The longest prefix that leaves one unit for the ellipsis; astral characters count two.
    used = keep = 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget - 1:
            break
        keep += 1
    # truncate() leaves a text of keep + 1 characters whole, though its last one may be an
    # emoji that overshoots the budget: then cut one character earlier.
    return truncate(text, keep + 1 if len(text) > keep + 1 else keep)


def hashtag(name: str) -> str:
    """A hashtag Telegram recognises: word characters only."""
    return "#" + _NON_WORD_RE.sub("", name)


def _fit(build: Callable[[str | None, str], str], translation: str | None, original: str,
         limit: int) -> str:
    """Share what the metadata leaves between translation and original; the shorter one
    keeps its whole text when it takes at most half."""
    html = build(translation, original)
    if visible_units(html) <= limit:
        return html
    fixed = visible_units(build("x" if translation else None, "x")) - (2 if translation else 1)
    budget = limit - fixed
    if translation:
        t_len, o_len = units(translation), units(original)
        t_share = min(t_len, max(budget // 2, budget - o_len))
        translation = cut(translation, max(1, t_share))
        original = cut(original, max(1, budget - units(translation)))
    else:
        original = cut(original, max(1, budget))
    return build(translation, original)


def alert_html(view: AlertView, limit: int = LIMIT) -> str:
    """Translation first, then the original in an expandable quote, then the facts."""
    meta = [f"🌐 {_e(view.language_label)}"]
    if view.entities:
        meta.append("📍 " + _e(", ".join(e.name for e in view.entities)))
    if view.topics:
        meta.append("🏷 " + _e(", ".join(view.topics)))
    tail = " · ".join(meta)
    tags = [hashtag(e.hashtag) for e in view.entities]
    tags = [t for t in dict.fromkeys(tags) if len(t) > 1]
    if tags:
        tail += "\n" + _e(" ".join(tags))
    tail += f"\n🔔 {_e(view.subscription)} · 📰 {_e(view.source)}"
    if view.extra_sources:
        tail += f" · +{view.extra_sources} sources"
        later = [_a(a.link, _e(a.source)) if a.link else _e(a.source)
                 for a in dict((a.source, a) for a in view.also).values()][:5]
        if later:
            tail += ": " + ", ".join(later)
    link = f"\n{_a(view.link, 'Original post')}" if view.link else ""
    tail += link
    note = f"\n<i>⚠ {_e(view.note)}</i>" if view.note else ""
    edited = " <i>(edited)</i>" if view.edited else ""

    def build(translation: str | None, original: str) -> str:
        quote = f"<blockquote expandable>{_e(original)}</blockquote>"
        if translation:
            body = _e(translation) + edited + "\n" + quote
        else:
            body = quote + edited
        return body + note + "\n\n" + tail

    html = _fit(build, view.translation, view.original, limit)
    if visible_units(html) > limit:  # metadata alone too long (absurd entity lists): go bare
        html = build(None, cut(view.headline, 200))
        if visible_units(html) > limit:
            html = _e(cut(view.headline, limit - 200)) + link
    return html


def reply_html(reply: Reply, limit: int = LIMIT) -> str:
    """A command's answer: its text, then its items as linked titles with their details."""
    text = cut(reply.text, limit - 40)
    parts = [_e(text)]
    used = units(text)
    for n, item in enumerate(reply.items):
        title = _e(item.title)
        if item.url:
            title = _a(item.url, title)
        entry = f"\n• <b>{title}</b>"
        if item.meta:
            entry += f"\n<i>{_e(item.meta)}</i>"
        size = visible_units(entry)
        if used + size > limit - 40:
            parts.append(f"\n… and {len(reply.items) - n} more")
            break
        parts.append(entry)
        used += size
    return "".join(parts)


_LINK_RE = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)


def plain_fallback(html: str, limit: int = LIMIT) -> str:
    """The same message without markup, for when Telegram refuses our HTML.

    Links are written out as "title: url" (stripping the tag would drop the URL), and a
    message that gets too long loses the end of its text before the last blank line, never
    the facts and the link after it."""
    text = visible(_LINK_RE.sub(r"\2: \1", html))  # href and title are escaped alike
    if units(text) <= limit:
        return text
    head, sep, tail = text.rpartition("\n\n")
    if not sep:
        head, sep, tail = text.rpartition("\n")
    room = limit - units(sep + tail)
    if sep and head and room >= 2:
        return cut(head, room) + sep + tail
    return cut(text, limit)
