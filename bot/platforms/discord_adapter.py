"""This module contains the Discord platform on discord.py: sources in, embed alerts out.

Messages in configured channels (and their threads) become `Post`s: the content plus the text
of rich embeds, crossposts from followed announcement channels with their origin, and edits
(the pipeline stores the new text and alerts once if it newly matches). The message-content
intent is required. Alerts go out as embeds that ping nobody; a forum room gets one post per
alert, titled by the story. Slash commands are bound by `handlers.discord_binding`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl
from discord import app_commands

from bot.errors import ConfigError, DeliveryError
from bot.model import Alert, Post, Room
from bot.platforms.discord_render import NO_PINGS, alert_embed, thread_name
from bot.render import AlertView
from bot.settings import DiscordSettings

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)

# wirewatch never joins voice: without this discord.py warns about PyNaCl and davey (its
# optional voice libraries) on every start. These are its own switches for those warnings.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

REAL_API = "https://discord.com/api/v10"
REAL_GATEWAY = "wss://gateway.discord.gg/"
MESSAGE_LINK = "https://discord.com/channels/{guild}/{channel}/{message}"


def point_discord_at(api_base: str, gateway_url: str | None = None) -> None:
    """Aim discord.py at `api_base` (a self-hosted proxy, or a fake in tests). discord.py
    builds every REST URL from `Route.BASE`, and a non-sharded client connects to
    `DiscordWebSocket.DEFAULT_GATEWAY`; both are class attributes, so this is process-wide."""
    base = api_base.rstrip("/")
    if gateway_url is None:
        url = yarl.URL(base)
        if url.host in ("discord.com", "discordapp.com"):
            gateway_url = REAL_GATEWAY
        else:
            scheme = "wss" if url.scheme in ("https", "wss") else "ws"
            gateway_url = str(url.with_scheme(scheme).with_path("/gateway").with_query(None))
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def message_text(message: discord.Message) -> str:
    """The content plus the text of rich embeds (bots and feeds often post only embeds).

    Link previews are left out: Discord adds them later as an edit, and their text is the
    linked page's, not the post's."""
    parts = [message.content or ""]
    for embed in message.embeds:
        if embed.type != "rich":
            continue
        for piece in (embed.author.name, embed.title, embed.description):
            if piece:
                parts.append(piece)
        for field in embed.fields:
            if field.value:
                parts.append(f"{field.name}: {field.value}" if field.name else field.value)
        if embed.footer.text:
            parts.append(embed.footer.text)
    return "\n".join(p for p in parts if p.strip())


def message_link(guild_id: int | str, channel_id: int | str, message_id: int | str) -> str:
    return MESSAGE_LINK.format(guild=guild_id, channel=channel_id, message=message_id)


def crosspost_origin(message: discord.Message) -> str | None:
    """Where a crossposted announcement came from: the followed channel's name as Discord
    shows it ("Newsroom #announcements") and a link to the original message."""
    if not message.flags.is_crossposted:
        return None
    name = message.author.display_name if message.author else None
    ref = message.reference
    link = None
    if ref is not None and ref.channel_id and ref.message_id:
        link = message_link(ref.guild_id or "@me", ref.channel_id, ref.message_id)
    if name and link:
        return f"{name} {link}"
    return name or link or "a followed channel"


def message_to_post(message: discord.Message, source_id: str, edited: bool) -> Post | None:
    text = message_text(message)
    if not text.strip():
        return None
    guild_id = message.guild.id if message.guild else "@me"
    return Post(
        source_id=source_id, platform="discord", chat=str(message.channel.id),
        message_id=str(message.id), text=text, date=message.created_at,
        author=str(message.author.display_name) if message.author else None,
        url=message_link(guild_id, message.channel.id, message.id),
        edited=edited, origin=crosspost_origin(message),
    )


def alert_nonce(alert: Alert) -> str:
    """Discord drops a second message with the same nonce (`enforce_nonce`, for a few
    minutes): a retry after a lost answer cannot post twice. Unique per post and room,
    within Discord's 25 characters."""
    return "w" + hashlib.sha256(alert.dedup_key.encode()).hexdigest()[:24]


class DiscordPlatform:
    """One discord.py client: the gateway for sources and commands, REST for alerts. With
    `receive=False` (a relay process) it logs in over REST only: no gateway, no commands."""

    name = "discord"

    def __init__(self, app: App, settings: DiscordSettings, *, receive: bool = True) -> None:
        self.app = app
        self.settings = settings
        self.receive = receive
        self.client: discord.Client | None = None
        self.tree: app_commands.CommandTree | None = None
        self._task: asyncio.Task[None] | None = None
        self._forum: dict[int, bool] = {}  # channel id -> is a forum (or media) channel

    def build(self) -> discord.Client:
        if not self.receive:  # REST only: intents matter for the gateway alone
            return discord.Client(intents=discord.Intents.none(), allowed_mentions=NO_PINGS)
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the Developer Portal
        # guild_ready_timeout: how long discord.py waits for more guilds before `ready`.
        client = discord.Client(intents=intents, allowed_mentions=NO_PINGS,
                                guild_ready_timeout=self.settings.ready_timeout)
        from handlers.discord_binding import install

        assert self.app.services is not None
        self.tree = install(client, self.app.services, self.settings)

        @client.event
        async def on_ready() -> None:
            log.info("discord: connected as %s to %d guild(s)", client.user, len(client.guilds))

        @client.event
        async def on_message(message: discord.Message) -> None:
            await self._on_message(message, edited=False)

        @client.event
        async def on_raw_message_edit(payload: discord.RawMessageUpdateEvent) -> None:
            # The raw event fires for uncached messages too (posts from before a restart).
            await self._on_message(payload.message, edited=True)

        return client

    async def start(self) -> None:
        token = os.environ.get(self.settings.token_env, "").strip()
        if not token:
            raise ConfigError(f"Discord needs a bot token: set the environment variable "
                              f"{self.settings.token_env} (Developer Portal -> Bot -> Token)")
        point_discord_at(self.settings.api_base, self.settings.gateway_url)
        self.client = client = self.build()
        try:
            await client.login(token)
        except discord.LoginFailure:
            await client.close()
            self.client = None
            raise ConfigError(f"{self.settings.token_env} was refused by Discord (401 "
                              f"Unauthorized): the token was reset or mistyped; copy the "
                              f"current one from the Developer Portal (Bot -> Token)") from None
        except BaseException:
            await client.close()
            self.client = None
            raise
        if not self.receive:
            log.info("discord: sending only, as %s", client.user)
            return
        from handlers.discord_binding import sync_commands

        assert self.tree is not None
        await sync_commands(self.tree, self.settings)
        self._task = asyncio.create_task(self._connect(client), name="discord-gateway")

    async def _connect(self, client: discord.Client) -> None:
        try:
            await client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except discord.PrivilegedIntentsRequired:
            log.error("Discord refused the message-content intent: enable it for this bot in "
                      "the Developer Portal (Bot -> Privileged Gateway Intents); sources and "
                      "commands are off, alerts still go out")
        except Exception:
            log.exception("the Discord gateway connection ended")

    async def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.client is not None
        await asyncio.wait_for(self.client.wait_until_ready(), timeout)

    async def stop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.close()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(task, 5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # -- sources --------------------------------------------------------------------------

    def _source_for(self, channel: Any) -> str | None:
        """The enabled source watching this channel, or the parent of this thread."""
        ids = {str(channel.id)}
        parent_id = getattr(channel, "parent_id", None)
        if parent_id:
            ids.add(str(parent_id))
        for source in self.app.store.sources():
            if source.platform == "discord" and source.enabled and source.address in ids:
                return source.id
        return None

    async def _on_message(self, message: discord.Message, edited: bool) -> None:
        client = self.client
        if client is not None and client.user is not None and message.author.id == client.user.id:
            return  # Discord echoes our own alerts and replies back to us
        source_id = self._source_for(message.channel)
        if source_id is None:
            return
        post = message_to_post(message, source_id, edited)
        if post is not None:
            await self.app.ingest(post, wait=False)  # confirmed to the platform: hold, go on
            self.app.source_health.recorder(source_id, "discord").seen(post)  # for /status

    # -- delivery -------------------------------------------------------------------------

    def _view(self, alert: Alert) -> AlertView:
        """The platform-neutral view, with the source's configured name instead of its id."""
        view = self.app.engine.renderer.view(alert)
        source_id = alert.post.source_id
        for source in self.app.store.sources():
            if source.id == source_id and source.name and view.source.startswith(source_id):
                return dataclasses.replace(view, source=source.name + view.source[len(source_id):])
        return view

    async def _is_forum(self, client: discord.Client, channel_id: int) -> bool:
        known = self._forum.get(channel_id)
        if known is not None:
            return known
        channel = client.get_channel(channel_id)
        if channel is None:
            channel = await client.fetch_channel(channel_id)
        forum = isinstance(channel, discord.ForumChannel)  # media channels are forums too
        self._forum[channel_id] = forum
        return forum

    async def send(self, room: Room, alert: Alert) -> str | None:
        client = self.client
        if client is None:
            raise DeliveryError("discord is not running")
        view = self._view(alert)
        embed = alert_embed(view)
        # A thread room (or one forum post) is addressed by the thread: alerts go inside it.
        channel_id = int(room.thread or room.chat)
        try:
            if not room.thread and await self._is_forum(client, channel_id):
                forum = client.get_channel(channel_id) or await client.fetch_channel(channel_id)
                assert isinstance(forum, discord.ForumChannel)
                # A forum gets one post per story, titled by the story.
                created = await forum.create_thread(name=thread_name(view), embed=embed,
                                                    allowed_mentions=NO_PINGS)
                message = created.message
            else:
                # A partial channel needs no cache: alerts go out before the gateway is ready.
                target = client.get_partial_messageable(channel_id)
                message = await target.send(embed=embed, allowed_mentions=NO_PINGS,
                                            nonce=alert_nonce(alert))
        except (discord.Forbidden, discord.NotFound) as exc:
            # The bot cannot see or post there: retrying will not help until someone fixes it.
            raise DeliveryError(f"discord refused: {exc.text or exc}", permanent=True) from exc
        except discord.HTTPException as exc:  # 5xx after discord.py's own retries, 400s...
            raise DeliveryError(f"discord error {exc.status}: {exc.text or exc}") from exc
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"discord network error: {exc!r}") from exc
        return f"{message.channel.id}:{message.id}"

    async def edit(self, room: Room, ref: str, alert: Alert) -> None:
        client = self.client
        if client is None:
            raise DeliveryError("discord is not running")
        channel_id, _, message_id = ref.partition(":")
        embed = alert_embed(self._view(alert))
        partial = client.get_partial_messageable(int(channel_id)).get_partial_message(int(message_id))
        try:
            await partial.edit(embed=embed, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            raise DeliveryError(f"discord edit failed {exc.status}: {exc.text or exc}") from exc
