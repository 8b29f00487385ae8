"""This module contains the Discord embed for an alert, within Discord's limits.

Post text is escaped (markdown and mentions) so a relayed post can neither ping nor format;
every message is also sent with mentions disabled, so nothing pings whatever slips through.
"""

from __future__ import annotations

import discord

from bot.render import AlertView, truncate

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
TOTAL_LIMIT = 6000

TOPIC_COLOURS = {
    "conflict": 0xC0392B,
    "nk_troops": 0x8E44AD,
    "diplomacy": 0x2980B9,
    "sanctions": 0xD68910,
}
DEFAULT_COLOUR = 0x607D8B
NO_PINGS = discord.AllowedMentions.none()


def safe(text: str) -> str:
    """Post text as inert Discord text: no markdown, no @everyone/@here, no role/user pings."""
    text = discord.utils.escape_markdown(text, as_needed=False, ignore_links=False)
    text = discord.utils.escape_mentions(text)
    # Masked links ([text](url)) would let a post disguise where a link goes.
    text = text.replace("[", "\\[").replace("](", "]\u200b(")
    return text.replace("<@", "<\u200b@").replace("<#", "<\u200b#")


def colour_for(topics: tuple[str, ...]) -> int:
    return next((TOPIC_COLOURS[t] for t in topics if t in TOPIC_COLOURS), DEFAULT_COLOUR)


def alert_embed(view: AlertView) -> discord.Embed:
    body = view.translation or view.original
    embed = discord.Embed(
        title=truncate(safe(view.headline) or "(no text)", TITLE_LIMIT),
        description=truncate(safe(body), DESCRIPTION_LIMIT - 200),
        url=view.link,
        colour=colour_for(view.topics),
        timestamp=view.date,
    )
    if view.translation:
        embed.add_field(name="Original", value=truncate(safe(view.original), FIELD_LIMIT), inline=False)
    if view.note:
        embed.add_field(name="Note", value=truncate(safe(view.note), FIELD_LIMIT), inline=False)
    embed.add_field(name="Language", value=view.language_label, inline=True)
    if view.entities:
        names = ", ".join(e.name for e in view.entities)
        embed.add_field(name="Entities", value=truncate(safe(names), FIELD_LIMIT), inline=True)
    embed.add_field(name="Subscription", value=truncate(safe(view.subscription), FIELD_LIMIT), inline=True)
    source = view.source + (f" (+{view.extra_sources} sources)" if view.extra_sources else "")
    embed.add_field(name="Source", value=truncate(safe(source), FIELD_LIMIT), inline=True)
    if view.link:
        embed.add_field(name="Link", value=view.link[:FIELD_LIMIT], inline=False)
    footer = ", ".join(view.topics) + (" · edited" if view.edited else "")
    if footer.strip(" ·,"):
        embed.set_footer(text=footer[:2048])
    _fit(embed)
    return embed


def _fit(embed: discord.Embed) -> None:
    """Shrink the description, then the original, until the embed is within 6,000 characters."""
    while len(embed) > TOTAL_LIMIT:
        over = len(embed) - TOTAL_LIMIT
        desc = embed.description or ""
        if len(desc) > 200:
            embed.description = truncate(desc, max(100, len(desc) - over - 10))
            continue
        for i, field in enumerate(embed.fields):
            if field.name == "Original" and len(field.value or "") > 100:
                embed.set_field_at(i, name=field.name, value=truncate(field.value, max(50, len(field.value) - over - 10)), inline=False)
                break
        else:
            break
