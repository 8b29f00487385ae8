"""This module contains the Discord binding of the command table: one slash command per entry
of `handlers.COMMANDS`, answered within Discord's 3-second window (or deferred and filled in).

Commands that take text take it in a string option `query`; /recent and /search also take
`limit`. Autocomplete offers `entity:`, `topic:`, `source:` and `lang:` terms for queries,
this room's subscription ids for /unsubscribe, /pause and /resume, and codes for /lang.
Moderators are members with Manage Server (or the role named in the config); the shared
handlers refuse everyone else, ephemerally, and audit every change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Optional

import discord
from discord import app_commands

from bot.platforms.discord_render import NO_PINGS, reply_message
from bot.render import LANGUAGE_NAMES
from bot.settings import DiscordSettings
from handlers import COMMAND_FAILED, COMMANDS, Command, Reply, Request, Services, dispatch
from handlers.posts import MAX_LIMIT

log = logging.getLogger(__name__)

WINDOW = 3.0  # Discord drops an interaction not answered within this many seconds
ANSWER_WITHIN = 2.0  # answer directly if the command is done by then, else defer first
MAX_CHOICES = 25
CHOICE_LIMIT = 100
Completer = Callable[[discord.Interaction, str], Awaitable[list[app_commands.Choice[str]]]]


def is_moderator(interaction: discord.Interaction, settings: DiscordSettings) -> bool:
    """Manage Server (or Administrator) in this channel, or the configured moderator role."""
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    member = interaction.user
    if settings.moderator_role and isinstance(member, discord.Member):
        return any(role.name == settings.moderator_role for role in member.roles)
    return False


def is_operator(interaction: discord.Interaction, settings: DiscordSettings) -> bool:
    """A configured user id, or a moderator of the configured guild: sources and new rooms
    are the deployment's, not any guild's that happens to have the bot."""
    if interaction.user.id in settings.moderators:
        return True
    return bool(settings.guild_id and interaction.guild_id == settings.guild_id
                and is_moderator(interaction, settings))


def room_address(interaction: discord.Interaction) -> tuple[str, str | None]:
    """(chat, thread) as rooms are keyed: a thread (or forum post) is addressed by its parent."""
    channel = interaction.channel
    parent_id = getattr(channel, "parent_id", None)
    if isinstance(channel, discord.Thread) and parent_id:
        return str(parent_id), str(channel.id)
    return str(interaction.channel_id), None


def to_request(interaction: discord.Interaction, command: Command, query: str | None,
               limit: int | None, settings: DiscordSettings) -> Request:
    chat, thread = room_address(interaction)
    options: dict[str, object] = {}
    if limit is not None:
        options["limit"] = limit
    return Request(
        command=command.name, args=(query or "").strip(), platform="discord", chat=chat,
        user_id=str(interaction.user.id), user_name=interaction.user.display_name, thread=thread,
        is_moderator=is_moderator(interaction, settings),
        is_operator=is_operator(interaction, settings), options=options,
    )


def answer_budget(interaction: discord.Interaction) -> float:
    """Seconds left to answer directly: ANSWER_WITHIN, less the time the interaction already
    spent reaching us (measured from its snowflake, so a lagging gateway cannot make us late)."""
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    return max(0.0, min(ANSWER_WITHIN, ANSWER_WITHIN - max(0.0, age)))


async def respond(interaction: discord.Interaction, work: Awaitable[Reply]) -> None:
    """Answer at once if the command is quick; otherwise defer ("thinking...") first and fill
    the answer in when it is ready."""
    task = asyncio.ensure_future(work)
    try:
        reply = await asyncio.wait_for(asyncio.shield(task), answer_budget(interaction))
    except TimeoutError:
        await interaction.response.defer(thinking=True)
        reply = await task
        content, embeds = _message(reply)
        if reply.ephemeral:
            # A deferred answer is public; a refusal must reach only the asker.
            await interaction.delete_original_response()
            await interaction.followup.send(content=content, embeds=embeds, ephemeral=True,
                                            allowed_mentions=NO_PINGS)
        else:
            await interaction.edit_original_response(content=content, embeds=embeds,
                                                     allowed_mentions=NO_PINGS)
        return
    content, embeds = _message(reply)
    await interaction.response.send_message(content=content, embeds=embeds,
                                            ephemeral=reply.ephemeral, allowed_mentions=NO_PINGS)


def _message(reply: Reply) -> tuple[str, list[discord.Embed]]:
    content, embeds = reply_message(reply)
    return (content or ("(nothing to show)" if not embeds else "")), embeds


def make_command(command: Command, services: Services, settings: DiscordSettings) -> app_commands.Command:
    """The slash command for one table entry; its options follow the command's usage."""

    async def run(interaction: discord.Interaction, query: str | None, limit: int | None) -> None:
        req = to_request(interaction, command, query, limit, settings)
        await respond(interaction, dispatch(req, services))

    # discord.py reads option names and types from the callback's signature, so each shape
    # of command gets its own callback. `Optional[...]`: discord.py resolves these string
    # annotations itself, and `X | None` does not work with `Range`.
    required = command.text_required
    if command.limit and required:
        async def callback(interaction: discord.Interaction, query: str,
                           limit: Optional[app_commands.Range[int, 1, MAX_LIMIT]] = None) -> None:  # noqa: UP045
            await run(interaction, query, limit)
    elif command.limit:
        async def callback(interaction: discord.Interaction, query: Optional[str] = None,  # noqa: UP045
                           limit: Optional[app_commands.Range[int, 1, MAX_LIMIT]] = None) -> None:  # noqa: UP045
            await run(interaction, query, limit)
    elif command.takes_text and required:
        async def callback(interaction: discord.Interaction, query: str) -> None:
            await run(interaction, query, None)
    elif command.takes_text:
        async def callback(interaction: discord.Interaction, query: Optional[str] = None) -> None:  # noqa: UP045
            await run(interaction, query, None)
    else:
        async def callback(interaction: discord.Interaction) -> None:
            await run(interaction, None, None)

    described: dict[str, str] = {}
    if command.takes_text:
        described["query"] = command.text[:100]
    if command.limit:
        described["limit"] = f"how many posts (1-{MAX_LIMIT})"
    if described:
        app_commands.describe(**described)(callback)
    app_commands.guild_only()(callback)  # rooms and moderators are guild channels and roles
    summary = command.summary + (" (moderators)" if command.moderator_only else "")
    slash = app_commands.Command(name=command.name, description=summary[:100], callback=callback)
    completer = completer_for(command, services)
    if completer is not None:
        slash.autocomplete("query")(completer)
    return slash


# -- autocomplete ---------------------------------------------------------------------------


def completer_for(command: Command, services: Services) -> Completer | None:
    """The autocomplete the command's entry asks for, if any."""
    if command.complete == "query":
        return _query_completer(services)
    if command.complete == "subscription":
        return _subscription_completer(services)
    if command.complete == "language":
        return _language_completer()
    return None


def query_terms(services: Services) -> list[tuple[str, str]]:
    """(term, what it names) for every entity, topic, source and language."""
    terms = [(f"entity:{e.id}", e.name) for e in services.watchlist]
    terms += [(f"topic:{t}", t) for t in services.topics.ids]
    terms += [(f"source:{s.id}", s.name or s.address) for s in services.store.sources()]
    terms += [(f"lang:{code}", name) for code, name in LANGUAGE_NAMES.items() if code != "und"]
    return terms


def complete_query(current: str, terms: list[tuple[str, str]]) -> list[app_commands.Choice[str]]:
    """Complete the last word of a query with a term; the words before it are kept."""
    head, space, last = current.rpartition(" ")
    prefix = head + space
    opening = last[: len(last) - len(last.lstrip("(-\""))]  # "(entity:k" keeps its "("
    prefix += opening
    word = last[len(opening):].lower()
    ranked: list[tuple[int, str, str]] = []
    for term, label in terms:
        kind, _, ident = term.partition(":")
        if not word:
            rank = 0 if kind in ("entity", "topic") else 1
        elif term.startswith(word) or ident.startswith(word):
            rank = 0
        elif word in term or word in label.lower():
            rank = 1
        else:
            continue
        ranked.append((rank, term, label))
    ranked.sort(key=lambda r: r[0])
    choices = []
    for _, term, label in ranked:
        value = prefix + term
        if len(value) > CHOICE_LIMIT:
            continue  # a cut value would change the query
        name = value if label.lower() == term.partition(":")[2] else f"{value} ({label})"
        choices.append(app_commands.Choice(name=name[:CHOICE_LIMIT], value=value))
        if len(choices) == MAX_CHOICES:
            break
    return choices


def _query_completer(services: Services) -> Completer:
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return complete_query(current, query_terms(services))

    return complete


def _subscription_completer(services: Services) -> Completer:
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        chat, thread = room_address(interaction)
        room = services.room_for("discord", chat, thread)
        if room is None:
            return []
        wanted = current.strip().lower()
        found = [s for s in services.store.subscriptions(room.id)
                 if wanted in s.id.lower() or wanted in s.query.lower()]
        return [app_commands.Choice(name=f"{s.id}: {s.query}"[:CHOICE_LIMIT], value=s.id)
                for s in found[:MAX_CHOICES]]

    return complete


def _language_completer() -> Completer:
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        wanted = current.strip().lower()
        found = [(code, name) for code, name in LANGUAGE_NAMES.items()
                 if code != "und" and (code.startswith(wanted) or wanted in name.lower())]
        return [app_commands.Choice(name=f"{name} ({code})", value=code)
                for code, name in found[:MAX_CHOICES]]

    return complete


# -- tree -----------------------------------------------------------------------------------


def install(client: discord.Client, services: Services,
            settings: DiscordSettings) -> app_commands.CommandTree:
    """A command tree with every command of the table (for the configured guild, if any)."""
    tree = app_commands.CommandTree(client)
    guild = discord.Object(id=settings.guild_id) if settings.guild_id else None
    for command in COMMANDS.values():
        tree.add_command(make_command(command, services, settings), guild=guild)

    @tree.error
    async def on_app_command_error(interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        log.error("slash command /%s failed", interaction.command.name if interaction.command
                  else "?", exc_info=error)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(COMMAND_FAILED, ephemeral=True, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(COMMAND_FAILED, ephemeral=True,
                                                        allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            pass  # the interaction expired; the log has it

    return tree


async def sync_commands(tree: app_commands.CommandTree, settings: DiscordSettings) -> None:
    """Publish the commands: to the configured guild (instant) or globally (can take an hour)."""
    guild = discord.Object(id=settings.guild_id) if settings.guild_id else None
    try:
        synced = await tree.sync(guild=guild)
    except discord.HTTPException as exc:
        # The bot still relays alerts; the commands Discord shows may be stale.
        log.warning("could not sync slash commands: %s", exc)
        return
    log.info("discord: %d slash commands synced %s", len(synced),
             f"to guild {settings.guild_id}" if guild else "globally")
