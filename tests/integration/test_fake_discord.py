"""This module contains tests proving the loopback Discord fake against the real discord.py client.

They run a plain `commands.Bot` (no wirewatch code) against `FakeDiscord`: connecting, READY,
messages in and out, app-command sync and interactions, rate limits and a clean close.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import warnings
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord_gateway import (
    DISCORD_API_BASE,
    DISCORD_GATEWAY,
    FakeDiscord,
    point_discord_at,
)

GUILD_ID = 810_000_000_000_000_777
TEXT_ID, NEWS_ID, THREAD_ID, FORUM_ID = 2001, 2002, 2003, 2004
CHANNELS = [
    (TEXT_ID, "newsroom", "text"),
    (NEWS_ID, "wire", "announcement"),
    (THREAD_ID, "desk-thread", "thread", TEXT_ID),
    {"id": FORUM_ID, "name": "stories", "type": 15, "topic": "one post per story"},
]
READER_ID = 840_000_000_000_000_001


def make_bot(*, message_content: bool = True) -> commands.Bot:
    intents = discord.Intents.default()
    intents.message_content = message_content
    # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before
    # on_ready (default 2 s); the fake sends all of them at once.
    return commands.Bot(
        command_prefix="!", intents=intents, help_command=None, guild_ready_timeout=0.05
    )


@contextlib.asynccontextmanager
async def running(bot: commands.Bot, fake: FakeDiscord) -> AsyncIterator[commands.Bot]:
    await bot.login(fake.token)
    connect = asyncio.create_task(bot.connect())
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 3)
        yield bot
    finally:
        await bot.close()
        await asyncio.wait_for(connect, 3)  # re-raises anything connect() died of


def fake_discord(**kwargs: Any) -> FakeDiscord:
    return FakeDiscord(guild_id=GUILD_ID, channels=CHANNELS, **kwargs)


def message_queue(bot: commands.Bot) -> asyncio.Queue[discord.Message]:
    """Messages from users other than the bot (the fake echoes the bot's own, as Discord does)."""
    queue: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def on_message(message: discord.Message) -> None:
        if message.author != bot.user:
            queue.put_nowait(message)

    bot.add_listener(on_message)
    return queue


async def test_bot_connects_over_zlib_stream_and_becomes_ready() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        async with running(bot, fake):
            assert bot.user is not None and bot.user.id == fake.bot_user_id
            assert bot.application_id == fake.application_id
            guild = bot.get_guild(GUILD_ID)
            assert guild is not None and not guild.unavailable
            assert guild.default_role.id == GUILD_ID
            assert isinstance(guild.get_channel(TEXT_ID), discord.TextChannel)
            news = guild.get_channel(NEWS_ID)
            assert isinstance(news, discord.TextChannel) and news.is_news()
            assert isinstance(guild.get_channel(FORUM_ID), discord.ForumChannel)
            thread = guild.get_thread(THREAD_ID)
            assert thread is not None and thread.parent_id == TEXT_ID
            assert guild.me is not None

            connection = fake.gateway_connections[0]
            assert connection.query["v"] == "10" and connection.query["encoding"] == "json"
            # discord.py asks for zstd-stream only when zstandard is importable.
            assert connection.compress == discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
            assert connection.binary_frames >= 3 and connection.text_frames == 0
            assert connection.heartbeats >= 1  # discord.py beats right after HELLO
            assert fake.identify is not None
            assert fake.identify["intents"] == bot.intents.value
            assert fake.identify["intents"] & (1 << 15)  # message content


async def test_on_message_sees_message_create_content() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        seen = message_queue(bot)
        async with running(bot, fake):
            message_id = await fake.dispatch_message(
                TEXT_ID,
                f"Заява МЗС <@{fake.bot_user_id}>",
                author_id=READER_ID,
                embeds=[{"title": "wire", "description": "body"}],
            )
            message = await asyncio.wait_for(seen.get(), 2)
            assert message.id == message_id
            assert message.content == f"Заява МЗС <@{fake.bot_user_id}>"
            assert message.channel.id == TEXT_ID and message.guild.id == GUILD_ID
            assert message.author.id == READER_ID and isinstance(message.author, discord.Member)
            assert [e.title for e in message.embeds] == ["wire"]
            assert bot.user in message.mentions
            assert not message.flags.is_crossposted


async def test_crosspost_and_message_update_reach_the_bot() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        seen = message_queue(bot)
        edits: asyncio.Queue[tuple[discord.Message, discord.Message]] = asyncio.Queue()

        async def on_message_edit(before: discord.Message, after: discord.Message) -> None:
            edits.put_nowait((before, after))

        bot.add_listener(on_message_edit)
        async with running(bot, fake):
            message_id = await fake.dispatch_message(
                NEWS_ID, "breaking", crosspost=True, source=(11, 22, 33)
            )
            message = await asyncio.wait_for(seen.get(), 2)
            assert message.flags.is_crossposted and message.webhook_id is not None
            assert message.reference is not None
            assert (message.reference.guild_id, message.reference.channel_id) == (11, 22)
            assert message.reference.message_id == 33

            await fake.dispatch_message_update(message_id, content="breaking: updated")
            before, after = await asyncio.wait_for(edits.get(), 2)
            assert (before.content, after.content) == ("breaking", "breaking: updated")
            assert after.edited_at is not None


async def test_without_message_content_intent_the_content_is_blank() -> None:
    async with fake_discord() as fake:
        bot = make_bot(message_content=False)
        seen = message_queue(bot)
        async with running(bot, fake):
            await fake.dispatch_message(TEXT_ID, "secret", author_id=READER_ID)
            await fake.dispatch_message(TEXT_ID, f"<@{fake.bot_user_id}> hi", author_id=READER_ID)
            blank, mentioned = (
                await asyncio.wait_for(seen.get(), 2),
                await asyncio.wait_for(seen.get(), 2),
            )
            assert blank.content == ""
            assert mentioned.content == f"<@{fake.bot_user_id}> hi"


async def test_send_records_embed_and_allowed_mentions_none() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        async with running(bot, fake):
            channel = bot.get_channel(TEXT_ID)
            assert isinstance(channel, discord.TextChannel)
            embed = discord.Embed(title="Alert", description="Заява", url="https://example.org/a")
            sent = await channel.send(
                "@everyone read", embed=embed, allowed_mentions=discord.AllowedMentions.none()
            )

            [record] = fake.messages
            assert record.channel_id == TEXT_ID and record.message_id == sent.id
            assert record.content == "@everyone read"
            assert record.payload["allowed_mentions"] == {"parse": []}
            assert record.embeds[0]["title"] == "Alert"
            assert record.embeds[0]["url"] == "https://example.org/a"
            assert sent.embeds[0].title == "Alert" and sent.author.id == fake.bot_user_id

            edited = await sent.edit(content="corrected")
            assert edited.content == "corrected" and edited.edited_at is not None
            assert fake.message_edits[0].payload["content"] == "corrected"


async def test_send_with_a_file_is_recorded_as_multipart() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        async with running(bot, fake):
            channel = bot.get_channel(TEXT_ID)
            assert isinstance(channel, discord.TextChannel)
            sent = await channel.send("report", file=discord.File(io.BytesIO(b"abc"), "r.txt"))
            [record] = fake.messages
            assert record.content == "report"
            assert [(f.filename, f.data) for f in record.files] == [("r.txt", b"abc")]
            assert sent.attachments[0].filename == "r.txt" and sent.attachments[0].size == 3


async def test_forum_post_creates_a_thread() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        async with running(bot, fake):
            forum = bot.get_channel(FORUM_ID)
            assert isinstance(forum, discord.ForumChannel)
            created = await forum.create_thread(
                name="Story 1", content="first", embed=discord.Embed(title="t")
            )
            [record] = fake.threads
            assert record.parent_id == FORUM_ID and record.thread_id == created.thread.id
            assert record.payload["name"] == "Story 1"
            assert record.message is not None and record.message["content"] == "first"
            assert created.message.id == created.thread.id
            await fake.wait_for(lambda: bot.get_channel(created.thread.id) is not None, 2)
            fetched = await bot.fetch_channel(FORUM_ID)
            assert (
                isinstance(fetched, discord.ForumChannel) and fetched.topic == "one post per story"
            )


async def test_app_command_guild_sync_and_immediate_response() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        guild = discord.Object(GUILD_ID)

        @bot.tree.command(name="echo", description="Echo text", guild=guild)
        @app_commands.describe(text="what to echo")
        async def echo(interaction: discord.Interaction, text: str, times: int = 1) -> None:
            await interaction.response.send_message(
                text * times, allowed_mentions=discord.AllowedMentions.none()
            )

        async with running(bot, fake):
            synced = await bot.tree.sync(guild=guild)
            [sync] = fake.command_syncs
            assert sync.guild_id == GUILD_ID and sync.names == ["echo"]
            assert [o["name"] for o in sync.commands[0]["options"]] == ["text", "times"]
            assert synced[0].id == int(sync.commands[0]["id"]) and synced[0].guild_id == GUILD_ID

            interaction_id = await fake.dispatch_interaction(
                "echo", {"text": "hi", "times": 2}, user_id=READER_ID
            )
            [response] = await fake.wait_for(lambda: fake.interaction_responses, 2)
            assert response.interaction_id == interaction_id and response.kind == "callback"
            assert response.type == 4
            assert response.data is not None and response.data["content"] == "hihi"
            assert response.data["allowed_mentions"] == {"parse": []}


async def test_app_command_defer_then_edit_original_and_followup() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        done = asyncio.Event()

        @bot.tree.command(name="search", description="Slow search")
        async def search(interaction: discord.Interaction, query: str) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content=f"results for {query}")
            await interaction.followup.send("more", embed=discord.Embed(title="page 2"))
            done.set()

        async with running(bot, fake):
            await bot.tree.sync()  # global this time
            assert fake.command_syncs[0].guild_id is None
            await fake.dispatch_interaction("search", {"query": "Київ"})
            await asyncio.wait_for(done.wait(), 2)
            kinds = [(r.kind, r.type) for r in fake.interaction_responses]
            assert kinds == [("callback", 5), ("edit_original", None), ("followup", None)]
            assert fake.interaction_responses[1].data["content"] == "results for Київ"
            assert fake.interaction_responses[2].data["embeds"][0]["title"] == "page 2"


async def test_subcommand_with_channel_and_member_options_and_a_role_check() -> None:
    editor_role = 850_000_000_000_000_001
    async with fake_discord(
        roles=[(editor_role, "editors")], members=[(READER_ID, "reader", [editor_role])]
    ) as fake:
        bot = make_bot()
        calls: list[tuple[int, int, str, bool]] = []
        watch = app_commands.Group(name="watch", description="Watch lists")

        @watch.command(name="add", description="Watch a channel")
        @app_commands.checks.has_role("editors")
        async def add(
            interaction: discord.Interaction, channel: discord.TextChannel, owner: discord.Member
        ) -> None:
            calls.append((channel.id, owner.id, owner.name, interaction.permissions.send_messages))
            await interaction.response.send_message("ok", ephemeral=True)

        @add.error
        async def denied(interaction: discord.Interaction, error: Exception) -> None:
            await interaction.response.send_message(f"denied: {type(error).__name__}")

        bot.tree.add_command(watch, guild=discord.Object(GUILD_ID))
        async with running(bot, fake):
            await bot.tree.sync(guild=discord.Object(GUILD_ID))
            options = {"channel": NEWS_ID, "owner": READER_ID}
            await fake.dispatch_interaction("watch add", options, user_id=READER_ID)
            await fake.dispatch_interaction("watch add", options, user_id=fake.bot_user_id + 1)
            await fake.wait_for(lambda: len(fake.interaction_responses) == 2, 2)

            assert calls == [(NEWS_ID, READER_ID, "reader", True)]
            allowed, denied_response = fake.interaction_responses
            assert allowed.data is not None and allowed.data["flags"] == 64  # ephemeral
            assert denied_response.data is not None
            assert denied_response.data["content"] == "denied: MissingRole"


async def test_unsynced_command_cannot_be_dispatched() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        async with running(bot, fake):
            with pytest.raises(LookupError, match="synced"):
                await fake.dispatch_interaction("nope")


async def test_rate_limited_send_is_retried_and_recorded_once() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        async with running(bot, fake):
            fake.fail_next("POST", "/channels/{id}/messages", status=429, retry_after=0.2)
            channel = bot.get_channel(TEXT_ID)
            assert isinstance(channel, discord.TextChannel)
            await channel.send("after the limit")

            assert [m.content for m in fake.messages] == ["after the limit"]
            posts = [r.status for r in fake.requests if r.method == "POST" and "messages" in r.path]
            assert posts == [429, 200]


async def test_server_error_on_send_is_retried() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        async with running(bot, fake):
            fake.fail_next("POST", f"/channels/{TEXT_ID}/messages", status=500)
            channel = bot.get_channel(TEXT_ID)
            assert isinstance(channel, discord.TextChannel)
            await channel.send("eventually")  # discord.py waits 1 s before retrying a 5xx
            assert [m.content for m in fake.messages] == ["eventually"]
            posts = [r.status for r in fake.requests if r.method == "POST"]
            assert posts == [500, 200]


async def test_gateway_reconnect_resumes_and_replays_missed_events() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        seen = message_queue(bot)
        async with running(bot, fake):
            await fake.request_reconnect()
            await fake.wait_for(lambda: len(fake.gateway_connections) == 2 and fake.ready, 3)
            assert fake.gateway_connections[1].resume is not None
            assert fake.gateway_connections[1].identify is None

            await fake.drop_connection(4000)
            missed_id = await fake.dispatch_message(
                TEXT_ID, "while you were away", author_id=READER_ID
            )
            message = await asyncio.wait_for(seen.get(), 3)
            assert message.id == missed_id
            # Dispatched while the client was away, so it came as the RESUME replay.
            assert fake.gateway_connections[-1].resume is not None
            assert fake.gateway_connections[-1].replayed == 1


async def test_invalidated_session_makes_the_client_identify_again() -> None:
    async with fake_discord() as fake:
        bot = make_bot()
        identifies: list[bool] = []

        async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
            # discord.py sleeps 5 s before every non-initial IDENTIFY; skip that here.
            identifies.append(initial)

        bot.before_identify_hook = before_identify_hook  # type: ignore[method-assign]
        seen = message_queue(bot)
        async with running(bot, fake):
            await fake.invalidate_session(resumable=False)
            await fake.wait_for(
                lambda: fake.ready and fake.gateway_connections[-1].identify is not None, 3
            )
            assert len(fake.gateway_connections) == 2 and identifies == [True, False]
            await fake.dispatch_message(TEXT_ID, "fresh session", author_id=READER_ID)
            assert (await asyncio.wait_for(seen.get(), 2)).content == "fresh session"


async def test_bot_closes_cleanly_without_leftover_tasks_or_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with fake_discord() as fake:
            bot = make_bot()
            async with running(bot, fake):
                pass
            assert bot.is_closed()
            await fake.wait_for(lambda: fake.gateway_connections[0].closed, 2)
        gc.collect()
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert leftover == []
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_bad_token_fails_login_with_401() -> None:
    async with fake_discord():
        bot = make_bot()
        with pytest.raises(discord.LoginFailure):
            await bot.login("wrong-token")
        await bot.close()


async def test_raw_gateway_without_compression_sends_text_and_rejects_bad_identify() -> None:
    async with fake_discord() as fake, aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json") as ws:
            hello = await ws.receive_json(timeout=2)
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 41250
            await ws.send_json({"op": 1, "d": None})
            assert (await ws.receive_json(timeout=2))["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": "bad", "intents": 0, "properties": {}}})
            closing = await ws.receive(timeout=2)
            assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4004


async def test_raw_gateway_zlib_stream_frames_end_with_sync_flush() -> None:
    async with fake_discord() as fake, aiohttp.ClientSession() as session:
        url = f"{fake.gateway_url}?v=10&encoding=json&compress=zlib-stream"
        async with session.ws_connect(url) as ws:
            inflater = zlib.decompressobj()
            frame = await ws.receive_bytes(timeout=2)
            assert frame.endswith(b"\x00\x00\xff\xff")
            assert json.loads(inflater.decompress(frame))["op"] == 10
            await ws.send_json(
                {"op": 2, "d": {"token": fake.token, "intents": 513, "properties": {}}}
            )
            ready = json.loads(inflater.decompress(await ws.receive_bytes(timeout=2)))
            guild = json.loads(inflater.decompress(await ws.receive_bytes(timeout=2)))
            assert (ready["t"], ready["s"]) == ("READY", 1)
            assert ready["d"]["application"]["id"] == str(fake.application_id)
            assert (guild["t"], guild["s"]) == ("GUILD_CREATE", 2)
            # Without the members intent GUILD_CREATE lists only the bot, but counts everyone.
            assert [m["user"]["id"] for m in guild["d"]["members"]] == [str(fake.bot_user_id)]
            assert guild["d"]["member_count"] == 2


async def test_raw_gateway_zstd_stream_when_zstandard_is_installed() -> None:
    zstandard = pytest.importorskip("zstandard")
    async with fake_discord() as fake, aiohttp.ClientSession() as session:
        url = f"{fake.gateway_url}?v=10&encoding=json&compress=zstd-stream"
        async with session.ws_connect(url) as ws:
            inflater = zstandard.ZstdDecompressor().decompressobj()
            hello = json.loads(inflater.decompress(await ws.receive_bytes(timeout=2)))
            assert hello["op"] == 10


async def test_unknown_route_is_a_json_404_and_requests_need_the_bot_token() -> None:
    async with fake_discord() as fake, aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bot {fake.token}"}
        async with session.get(f"{fake.api_base}/no/such/route", headers=auth) as response:
            assert response.status == 404
            body = await response.json()
            assert body["code"] == 0 and "message" in body
        async with session.get(f"{fake.api_base}/users/@me") as response:
            assert response.status == 401
        async with session.get(f"{fake.api_base}/gateway/bot", headers=auth) as response:
            assert (await response.json())["url"] == fake.gateway_url


def test_point_discord_at_sets_route_base_and_gateway() -> None:
    before = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        point_discord_at("http://127.0.0.1:9999/api/v10/")
        assert discord.http.Route.BASE == "http://127.0.0.1:9999/api/v10"
        assert (
            discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:9999/api/v10/users/@me"
        )
        assert (
            str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:9999/gateway"
        )

        point_discord_at("https://proxy.example/api/v10", "wss://gw.example/")
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "wss://gw.example/"

        point_discord_at(DISCORD_API_BASE)
        assert discord.http.Route.BASE == DISCORD_API_BASE
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == DISCORD_GATEWAY
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = before
