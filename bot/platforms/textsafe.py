"""This module contains the escaping that keeps relayed text inert on each chat platform,
and the fitting of escaped text into a platform's limit.

`discord_safe` escapes Discord markdown and mentions (Discord messages, embeds and Discord
webhooks), `slack_escape` Slack's control sequences; `fit` cuts any of them to a limit
without splitting an escape. Telegram HTML is escaped by its renderer, whose limit counts
the text after parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.render import truncate

# Inline markdown (bold, italics, underline, strike, spoilers, code, masked links, escapes):
# backslash-escaped wherever it stands. Discord renders "\\" + any punctuation as that character.
_INLINE = frozenset("\\*_~|`[]")
# Block markdown at the start of a line, after any indentation: "#" headings, "-#" subtext,
# "> " quotes, "- "/"+ " lists ("* " is inline already).
_LINE_START = frozenset("#>-+")
_ORDERED_RE = re.compile(r"(\d+)([.)])")  # "1. " starts an ordered list
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# A URL as Discord autolinks it, ended before any markdown character: inside it "_" stays raw
# (t.me/some_channel must keep working; a backslash would break the link), nothing else does.
_URL_RE = re.compile(r"https?://[A-Za-z0-9][^\s<>\\*~|`\[\]]*[^\s<>\\*~|`\[\].,:;\"')]")
# "<" opening a user/role mention, channel, slash command, custom emoji, timestamp or guild
# navigation link: "<@", "<#", "</", "<:", "<a:", "<t:", "<id:".
_ANGLE_RE = re.compile(r"<(?=[@#/:]|[at]:|id:)", re.IGNORECASE)
_MASS_MENTION_RE = re.compile(r"[@\uff20](?=everyone|here)", re.IGNORECASE)


def discord_safe(text: str) -> str:
    """Post text as inert Discord text: shown literally, no markdown, no mentions, no pings.

    Our own escaping, character by character: discord.py's escape_markdown leaves the rest of
    a line unescaped after a masked link and knows nothing of headings, lists, timestamps or
    slash-command mentions."""
    urls = {m.start(): m.end() for m in _URL_RE.finditer(text)}
    out: list[str] = []
    url_end = 0
    line_start = True
    i = 0
    while i < len(text):
        if i in urls:
            url_end = urls[i]
        ch = text[i]
        if line_start and not ch.isspace():
            line_start = False
            ordered = _ORDERED_RE.match(text, i)
            if ordered:  # "1." -> "1\.": no list
                out.append(f"{ordered[1]}\\{ordered[2]}")
                i = ordered.end()
                continue
            if ch in _LINE_START:
                out.append("\\" + ch)
                i += 1
                continue
        if ch in _INLINE and not (ch == "_" and i < url_end):
            out.append("\\" + ch)
        else:
            out.append(ch)
        if ch in _LINE_BREAKS:
            line_start = True
        i += 1
    escaped = "".join(out)
    escaped = _MASS_MENTION_RE.sub("\\g<0>\u200b", escaped)  # "@EVERYONE" in a translation, too
    escaped = _ANGLE_RE.sub("<\u200b", escaped)
    # Belt and braces for masked links: "[" is escaped already, "](" is split as well.
    return escaped.replace("](", "]\u200b(")


def slack_escape(text: str) -> str:
    """Text Slack shows as it is: `<!channel>`, `<@U123>` and `<url|label>` become inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int, escape: Callable[[str], str] = discord_safe) -> str:
    """`escape(text)` in at most `limit` characters, cut at a word before escaping so that no
    escape sequence is split by the cut."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    # Escaping only lengthens: start from `limit` raw characters and shrink them in proportion
    # to what still overflows.
    budget = limit
    while budget > 1:
        escaped = escape(truncate(text, budget))
        if len(escaped) <= limit:
            return escaped
        budget = min(budget - 1, budget * limit // len(escaped))
    return escape(truncate(text, 1))[:max(0, limit)]
