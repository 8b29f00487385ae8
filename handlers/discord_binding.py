"""This module contains the Discord binding of the command table: slash commands built from
`handlers.COMMANDS`, each answered within Discord's 3-second window."""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

import discord
from discord import app_commands
from discord.ext import commands

from bot.platforms.discord_render import NO_PINGS, safe
from bot.render import truncate
from bot.settings import DiscordSettings
from handlers import COMMANDS, Command, Reply, Request, Services, dispatch

log = logging.getLogger(__name__)

ANSWER_WITHIN = 2.0  # seconds before we defer; Discord allows 3
_SUB_ID_COMMANDS = {"unsubscribe", "pause", "resume"}


def is_moderator(interaction: discord.Interaction, settings: DiscordSettings) -> bool:
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    member = interaction.user
    if settings.moderator_role and isinstance(member, discord.Member):
        return any(role.name == settings.moderator_role for role in member.roles)
    return False


def to_request(interaction: discord.Interaction, command: Command, query: str | None,
               limit: int | None, settings: DiscordSettings) -> Request:
    channel = interaction.channel
    thread = None
    chat = str(interaction.channel_id)
    if isinstance(channel, discord.Thread) and channel.parent_id:
        chat, thread = str(channel.parent_id), str(channel.id)
    options: dict[str, object] = {}
    if limit is not None:
        options["limit"] = limit
    return Request(
        command=command.name, args=(query or "").strip(), platform="discord", chat=chat,
        user_id=str(interaction.user.id), user_name=interaction.user.display_name, thread=thread,
        is_moderator=is_moderator(interaction, settings), options=options,
    )


def reply_message(reply: Reply) -> tuple[str, list[discord.Embed]]:
    content = truncate(safe(reply.text), 2000)
    embeds = []
    for item in reply.items[:10]:
        embed = discord.Embed(title=truncate(safe(item.title), 256), url=item.url,
                              description=truncate(safe(item.body), 350))
        if item.meta:
            embed.set_footer(text=truncate(item.meta, 300))
        embeds.append(embed)
    return content, embeds


async def respond(interaction: discord.Interaction, work: asyncio.Future[Reply]) -> None:
    """Answer at once if the command is quick, else defer and fill the answer in later."""
    try:
        reply = await asyncio.wait_for(asyncio.shield(work), ANSWER_WITHIN)
    except TimeoutError:
        await interaction.response.defer(thinking=True)
        reply = await work
        content, embeds = reply_message(reply)
        await interaction.followup.send(content=content, embeds=embeds, allowed_mentions=NO_PINGS)
        return
    content, embeds = reply_message(reply)
    await interaction.response.send_message(content=content, embeds=embeds,
                                            ephemeral=reply.ephemeral, allowed_mentions=NO_PINGS)


def _make_command(command: Command, services: Services, settings: DiscordSettings) -> app_commands.Command:
    async def run(interaction: discord.Interaction, query: str | None, limit: int | None) -> None:
        req = to_request(interaction, command, query, limit, settings)
        await respond(interaction, asyncio.ensure_future(dispatch(req, services)))

    if command.name in ("recent", "search"):
        async def with_limit(interaction: discord.Interaction, query: Optional[str] = None,  # noqa: UP045
                             limit: Optional[app_commands.Range[int, 1, 20]] = None) -> None:  # noqa: UP045
            await run(interaction, query, limit)
        callback = with_limit
    elif command.takes_text:
        async def with_query(interaction: discord.Interaction, query: Optional[str] = None) -> None:  # noqa: UP045
            await run(interaction, query, None)
        callback = with_query
    else:
        async def plain(interaction: discord.Interaction) -> None:
            await run(interaction, None, None)
        callback = plain
    slash = app_commands.Command(name=command.name, description=command.summary[:100], callback=callback)
    if command.takes_text:
        slash.autocomplete("query")(_autocomplete(command, services))
    return slash


def _autocomplete(command: Command, services: Services):  # noqa: ANN202 - discord.py's callback type
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        head, _, last = current.rpartition(" ")
        prefix = (head + " ") if head else ""
        if command.name in _SUB_ID_COMMANDS:
            options = [s.id for s in services.store.subscriptions()]
        else:
            options = [f"entity:{e}" for e in services.watchlist.ids]
            options += [f"topic:{t}" for t in services.topics.ids]
        wanted = last.lower()
        found = [o for o in options if wanted in o.lower()][:25]
        return [app_commands.Choice(name=(prefix + o)[:100], value=(prefix + o)[:100]) for o in found]

    return complete


def install(bot: commands.Bot, services: Services, settings: DiscordSettings) -> None:
    """Add every command of the table to the bot's tree; sync it when the bot starts."""
    for command in COMMANDS.values():
        bot.tree.add_command(_make_command(command, services, settings))

    async def setup_hook() -> None:
        try:
            if settings.guild_id:
                guild = discord.Object(id=settings.guild_id)
                bot.tree.copy_global_to(guild=guild)
                await bot.tree.sync(guild=guild)
            else:
                await bot.tree.sync()
        except discord.HTTPException as exc:
            log.warning("could not sync slash commands: %s", exc)

    bot.setup_hook = setup_hook  # type: ignore[method-assign]

    @bot.tree.error
    async def on_app_command_error(interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        log.error("slash command failed", exc_info=error)
        text = "Sorry, that command failed on our side; it has been logged."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            pass
