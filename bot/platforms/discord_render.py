"""This module contains the Discord rendering of alerts and command replies, within Discord's
limits.

Post text is escaped (markdown, masked links and mentions) so a relayed post can neither ping
nor format; every message is also sent with `NO_PINGS`, so nothing pings whatever slips
through the escaping.
"""

from __future__ import annotations

import hashlib

import discord

from bot.platforms.textsafe import discord_safe as safe
from bot.platforms.textsafe import fit
from bot.render import AlertView, truncate
from handlers.request import Reply

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
FOOTER_LIMIT = 2048
TOTAL_LIMIT = 6000  # all embeds of one message together
CONTENT_LIMIT = 2000
THREAD_NAME_LIMIT = 100
MAX_EMBEDS = 10
MIN_DESCRIPTION = 200  # what an over-long embed keeps of its body before shrinking the original
MIN_ORIGINAL = 100

TOPIC_COLOURS = {
    "conflict": 0xC0392B,
    "nk_troops": 0x8E44AD,
    "diplomacy": 0x2980B9,
    "sanctions": 0xD68910,
}
DEFAULT_COLOUR = 0x607D8B
# Serialises as {"parse": []}: no @everyone/@here, no role and no user pings, not even replies.
NO_PINGS = discord.AllowedMentions.none()

__all__ = ["NO_PINGS", "alert_embed", "colour_for", "fit", "reply_message", "safe", "thread_name"]


def colour_for(topics: tuple[str, ...]) -> int:
    """The first topic's colour; topics of a custom topics file get a stable colour of their own."""
    if not topics:
        return DEFAULT_COLOUR
    topic = topics[0]
    if topic in TOPIC_COLOURS:
        return TOPIC_COLOURS[topic]
    return int.from_bytes(hashlib.sha256(topic.encode()).digest()[:3], "big")


def thread_name(view: AlertView) -> str:
    """A forum post's title: the story's headline as plain text (thread names render no
    markdown and ping nobody)."""
    return truncate(" ".join(view.headline.split()), THREAD_NAME_LIMIT) or "alert"


def alert_embed(view: AlertView) -> discord.Embed:
    """The alert as one embed: headline, translation, original, language, entities,
    subscription, source, link, time and a colour per topic; at most 6,000 characters."""
    body = view.translation or view.original
    embed = discord.Embed(
        title=fit(view.headline or "(no text)", TITLE_LIMIT),
        description=fit(body, DESCRIPTION_LIMIT),
        url=view.link,
        colour=colour_for(view.topics),
        timestamp=view.date,
    )
    if view.translation:
        embed.add_field(name="Original", value=fit(view.original, FIELD_LIMIT), inline=False)
    if view.note:
        embed.add_field(name="Note", value=fit(view.note, FIELD_LIMIT), inline=False)
    embed.add_field(name="Language", value=fit(view.language_label, FIELD_LIMIT), inline=True)
    if view.entities:
        names = ", ".join(e.name for e in view.entities)
        embed.add_field(name="Entities", value=fit(names, FIELD_LIMIT), inline=True)
    embed.add_field(name="Subscription", value=fit(view.subscription, FIELD_LIMIT), inline=True)
    more = f": {view.also_names()}" if view.also else ""
    source = view.source + (f" (+{view.extra_sources} sources{more})" if view.extra_sources else "")
    embed.add_field(name="Source", value=fit(source, FIELD_LIMIT), inline=True)
    if view.link:
        embed.add_field(name="Link", value=view.link[:FIELD_LIMIT], inline=False)
    footer = ", ".join(view.topics) + (" · edited" if view.edited else "")
    if footer.strip(" ·,"):
        embed.set_footer(text=footer.strip(" ·")[:FOOTER_LIMIT])
    _shrink(embed, body, view.original if view.translation else None)
    return embed


def _shrink(embed: discord.Embed, body: str, original: str | None) -> None:
    """Within 6,000 characters: the body gives way first, then the original, then entities."""
    over = len(embed) - TOTAL_LIMIT
    if over > 0:
        desc = embed.description or ""
        embed.description = fit(body, max(MIN_DESCRIPTION, len(desc) - over))
    for name, text, floor in (("Original", original, MIN_ORIGINAL), ("Entities", None, 50)):
        over = len(embed) - TOTAL_LIMIT
        if over <= 0:
            return
        for i, field in enumerate(embed.fields):
            if field.name == name and field.value:
                keep = max(floor, len(field.value) - over)
                value = fit(text, keep) if text is not None else truncate(field.value, keep)
                embed.set_field_at(i, name=name, value=value, inline=field.inline)


def reply_message(reply: Reply) -> tuple[str, list[discord.Embed]]:
    """A command reply as message content plus one embed per listed item, within limits.

    Text that does not fit a message's 2,000 characters moves into an embed (4,096)."""
    embeds: list[discord.Embed] = []
    content = safe(reply.text)
    if len(content) > CONTENT_LIMIT:
        embeds.append(discord.Embed(description=fit(reply.text, DESCRIPTION_LIMIT)))
        content = fit(first_paragraph(reply.text), CONTENT_LIMIT)
    used = sum(len(e) for e in embeds)
    for item in reply.items:
        embed = discord.Embed(title=fit(item.title or "(no text)", TITLE_LIMIT), url=item.url,
                              description=fit(item.body, 350) or None)
        if item.meta:
            embed.set_footer(text=truncate(item.meta, 300))
        if len(embeds) >= MAX_EMBEDS or used + len(embed) > TOTAL_LIMIT:
            break
        embeds.append(embed)
        used += len(embed)
    return content, embeds


def first_paragraph(text: str) -> str:
    return text.strip().split("\n\n", 1)[0]
