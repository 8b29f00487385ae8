"""This module contains the Discord platform on discord.py: sources in, embed alerts out.

Messages in configured channels (the message-content intent is required), including crossposts
from followed announcement channels and the text inside embeds, become `Post`s; alerts go out as
embeds that ping nobody. Slash commands are bound by `handlers.discord_binding`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

import discord
import yarl
from discord.ext import commands

from bot.errors import ConfigError, DeliveryError
from bot.model import Alert, Post, Room
from bot.platforms.discord_render import NO_PINGS, alert_embed
from bot.render import truncate
from bot.settings import DiscordSettings

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)

REAL_API = "https://discord.com/api/v10"
REAL_GATEWAY = "wss://gateway.discord.gg/"


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
            scheme = "wss" if url.scheme == "https" else "ws"
            gateway_url = str(url.with_scheme(scheme).with_path("/gateway").with_query(None))
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def message_text(message: discord.Message) -> str:
    """The content plus the text inside embeds (bots and feeds often post only embeds)."""
    parts = [message.content or ""]
    for embed in message.embeds:
        for piece in (embed.title, embed.description):
            if piece:
                parts.append(piece)
        for field in embed.fields:
            if field.value:
                parts.append(f"{field.name}: {field.value}" if field.name else field.value)
    return "\n".join(p for p in parts if p.strip())


def message_to_post(message: discord.Message, source_id: str, edited: bool) -> Post | None:
    text = message_text(message)
    if not text.strip():
        return None
    origin = None
    if message.flags.is_crossposted and message.reference is not None:
        origin = f"crosspost from channel {message.reference.channel_id}"
    guild_id = message.guild.id if message.guild else "@me"
    return Post(
        source_id=source_id, platform="discord", chat=str(message.channel.id),
        message_id=str(message.id), text=text, date=message.created_at,
        author=str(message.author.display_name) if message.author else None,
        url=f"https://discord.com/channels/{guild_id}/{message.channel.id}/{message.id}",
        edited=edited, origin=origin,
    )


class DiscordPlatform:
    name = "discord"

    def __init__(self, app: App, settings: DiscordSettings) -> None:
        self.app = app
        self.settings = settings
        self.bot: commands.Bot | None = None
        self._task: asyncio.Task[None] | None = None

    def build(self) -> commands.Bot:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the Developer Portal
        bot = commands.Bot(command_prefix=commands.when_mentioned, intents=intents,
                           allowed_mentions=NO_PINGS, help_command=None,
                           guild_ready_timeout=self.settings.ready_timeout)
        from handlers.discord_binding import install

        assert self.app.services is not None
        install(bot, self.app.services, self.settings)

        @bot.event
        async def on_message(message: discord.Message) -> None:
            await self._on_message(message, edited=False)

        @bot.event
        async def on_raw_message_edit(payload: discord.RawMessageUpdateEvent) -> None:
            message = getattr(payload, "message", None)
            if message is not None:
                await self._on_message(message, edited=True)

        return bot

    async def start(self) -> None:
        token = os.environ.get(self.settings.token_env, "").strip()
        if not token:
            raise ConfigError(f"Discord needs a bot token: set the environment variable "
                              f"{self.settings.token_env} (Developer Portal -> Bot -> Token)")
        point_discord_at(self.settings.api_base, self.settings.gateway_url)
        self.bot = self.build()
        try:
            await self.bot.login(token)
        except discord.LoginFailure as exc:
            raise ConfigError(f"Discord rejected the token in {self.settings.token_env}: {exc}") from None
        self._task = asyncio.create_task(self._connect(), name="discord-gateway")

    async def _connect(self) -> None:
        assert self.bot is not None
        try:
            await self.bot.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the Discord gateway connection ended")

    async def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.bot is not None
        await asyncio.wait_for(self.bot.wait_until_ready(), timeout)

    async def stop(self) -> None:
        bot, self.bot = self.bot, None
        if bot is not None:
            await bot.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _source_for(self, channel_id: int) -> str | None:
        for source in self.app.store.sources():
            if source.platform == "discord" and source.enabled and source.address == str(channel_id):
                return source.id
        return None

    async def _on_message(self, message: discord.Message, edited: bool) -> None:
        if self.bot is not None and self.bot.user is not None and message.author.id == self.bot.user.id:
            return  # our own alerts
        source_id = self._source_for(message.channel.id)
        if source_id is None:
            return
        post = message_to_post(message, source_id, edited)
        if post is not None:
            await self.app.ingest(post)

    # -- delivery -------------------------------------------------------------------------

    async def _channel(self, room: Room) -> discord.abc.Messageable | discord.ForumChannel:
        assert self.bot is not None
        channel_id = int(room.thread or room.chat)
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(channel_id)
        return channel  # type: ignore[return-value]

    async def send(self, room: Room, alert: Alert) -> str | None:
        if self.bot is None:
            raise DeliveryError("discord is not running")
        embed = alert_embed(self.app.engine.renderer.view(alert))
        try:
            channel = await self._channel(room)
            if isinstance(channel, discord.ForumChannel):
                # A forum gets one post per story, titled by the story.
                title = truncate(embed.title or "alert", 100)
                created = await channel.create_thread(name=title, embed=embed, allowed_mentions=NO_PINGS)
                message = created.message
            else:
                message = await channel.send(embed=embed, allowed_mentions=NO_PINGS)  # type: ignore[union-attr]
        except (discord.Forbidden, discord.NotFound) as exc:
            raise DeliveryError(f"discord refused: {exc.text or exc}", permanent=True) from exc
        except discord.HTTPException as exc:
            raise DeliveryError(f"discord error {exc.status}: {exc.text or exc}") from exc
        except (TimeoutError, OSError) as exc:
            raise DeliveryError(f"discord network error: {exc}") from exc
        return f"{message.channel.id}:{message.id}"

    async def edit(self, room: Room, ref: str, alert: Alert) -> None:
        if self.bot is None:
            raise DeliveryError("discord is not running")
        channel_id, _, message_id = ref.partition(":")
        embed = alert_embed(self.app.engine.renderer.view(alert))
        partial = self.bot.get_partial_messageable(int(channel_id)).get_partial_message(int(message_id))
        try:
            await partial.edit(embed=embed, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            raise DeliveryError(f"discord edit failed {exc.status}: {exc.text or exc}") from exc
