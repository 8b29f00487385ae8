"""This module contains a loopback fake of Discord (gateway and REST) for the real discord.py 2.7.

`FakeDiscord` runs one aiohttp server on 127.0.0.1: the REST API under /api/v10 (see
`tests.fakes.discord_rest`) and the gateway websocket at /gateway. The gateway speaks v10 JSON,
honours `compress=zlib-stream` (and `zstd-stream` when a zstd compressor is importable), answers
heartbeats, IDENTIFY with READY + GUILD_CREATE, RESUME with a replay + RESUMED, and lets tests
dispatch MESSAGE_CREATE, MESSAGE_UPDATE and INTERACTION_CREATE. `point_discord_at` points the
discord.py client at any Discord-compatible base URL.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord.gateway
import discord.http
import yarl
from aiohttp import WSMsgType, web

from tests.fakes.discord_rest import (
    ATTACHMENT_SIZE_LIMIT,
    IS_CROSSPOST,
    TEXT,
    ChannelSpec,
    CommandSync,
    CreatedThread,
    DiscordWorld,
    InteractionResponse,
    MemberSpec,
    MessageEdit,
    OpenInteraction,
    RecordedRequest,
    RestApi,
    RoleSpec,
    SentMessage,
    iso,
)

try:  # discord.py asks for zstd-stream when it can decompress it; serve it when we can compress
    import zstandard as _zstandard
except ImportError:  # pragma: no cover - depends on the environment
    _zstandard = None

DISCORD_API_BASE = "https://discord.com/api/v10"
# The app aims discord.py with the same function it uses for `discord.api_base`.
from bot.platforms.discord_adapter import REAL_GATEWAY, point_discord_at  # noqa: E402

DISCORD_GATEWAY = REAL_GATEWAY
__all__ = ["DISCORD_GATEWAY", "FakeDiscord", "point_discord_at"]

# Gateway opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, RESUME, RECONNECT = 0, 1, 2, 3, 6, 7
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11

# Intents that decide what the gateway sends.
GUILD_MEMBERS, GUILD_PRESENCES, GUILD_MESSAGES, MESSAGE_CONTENT = 1 << 1, 1 << 8, 1 << 9, 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

# READY's application flags: the three "limited" privileged-intent grants a small bot has.
DEFAULT_APPLICATION_FLAGS = (1 << 13) | (1 << 15) | (1 << 19)

T = TypeVar("T")


@dataclass
class GatewayConnection:
    """One websocket connection the client opened, as the fake saw it."""

    query: dict[str, str]
    identify: dict[str, Any] | None = None
    resume: dict[str, Any] | None = None
    heartbeats: int = 0
    replayed: int = 0
    binary_frames: int = 0
    text_frames: int = 0
    presence_updates: list[dict[str, Any]] = field(default_factory=list)
    member_requests: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False

    @property
    def compress(self) -> str | None:
        return self.query.get("compress")


@dataclass
class _Session:
    session_id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    # Every dispatch of the session, so a RESUME can replay what the client missed.
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)


class _Socket:
    """The server side of one gateway connection: framing and compression."""

    def __init__(self, ws: web.WebSocketResponse, info: GatewayConnection) -> None:
        self.ws = ws
        self.info = info
        self.lock = asyncio.Lock()
        self.session: _Session | None = None
        self._zlib = zlib.compressobj() if info.compress == "zlib-stream" else None
        self._zstd = (
            _zstandard.ZstdCompressor().compressobj()
            if info.compress == "zstd-stream" and _zstandard is not None
            else None
        )

    async def send(self, op: int, d: Any, *, s: int | None = None, t: str | None = None) -> None:
        data = json.dumps({"op": op, "d": d, "s": s, "t": t}, separators=(",", ":")).encode()
        async with self.lock:  # the compression stream must see frames in send order
            if self.ws.closed:
                return
            if self._zlib is not None:
                # One Z_SYNC_FLUSH per payload: the client buffers until 00 00 ff ff.
                await self.ws.send_bytes(
                    self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                )
                self.info.binary_frames += 1
            elif self._zstd is not None:
                frame = self._zstd.compress(data) + self._zstd.flush(
                    _zstandard.COMPRESSOBJ_FLUSH_BLOCK
                )
                await self.ws.send_bytes(frame)
                self.info.binary_frames += 1
            else:
                await self.ws.send_str(data.decode())
                self.info.text_frames += 1

    async def close(self, code: int, message: str = "") -> None:
        await self.ws.close(code=code, message=message.encode())


class FakeDiscord:
    """A loopback Discord for one guild; use as `async with FakeDiscord(...) as fake:`.

    `channels` take payload dicts or `(id, name, type[, parent_id])` tuples, `type` an int or
    "text", "announcement"/"news", "thread", "forum", "voice", "category"...; threads without a
    parent go under the first text channel. `roles` take dicts or `(id, name[, permissions])`,
    `members` dicts or `(user_id, name[, role_ids])`. By default the fake points discord.py at
    itself on entry and restores the previous target on exit (`point=False` to do it yourself).
    """

    def __init__(
        self,
        *,
        guild_id: int = 810_000_000_000_000_001,
        guild_name: str = "Wirewatch Test Newsroom",
        channels: Sequence[ChannelSpec] | None = None,
        roles: Sequence[RoleSpec] = (),
        members: Sequence[MemberSpec] = (),
        bot_user_id: int = 820_000_000_000_000_001,
        bot_name: str = "wirewatch",
        application_id: int | None = None,
        owner_id: int = 830_000_000_000_000_001,
        token: str = "fake-bot-token",
        heartbeat_interval: float = 41.25,
        reject_privileged_intents: bool = False,
        echo_own_messages: bool = True,
        application_flags: int = DEFAULT_APPLICATION_FLAGS,
        point: bool = True,
    ) -> None:
        self.world = DiscordWorld(
            guild_id=guild_id,
            guild_name=guild_name,
            bot_user_id=bot_user_id,
            bot_name=bot_name,
            # Bots made since 2017 share their application's id.
            application_id=application_id or bot_user_id,
            owner_id=owner_id,
            channels=channels,
            roles=roles,
            members=members,
            application_flags=application_flags,
        )
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.reject_privileged_intents = reject_privileged_intents
        self.gateway_connections: list[GatewayConnection] = []
        self._point = point
        self._previous_target: tuple[str, yarl.URL] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._socket: _Socket | None = None
        self._session: _Session | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._gateway_errors: list[BaseException] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.rest = RestApi(
            self.world,
            token=token,
            gateway_url=lambda: self.gateway_url,
            emit=self._echo,
            notify=self._notify,
            echo_own_messages=echo_own_messages,
        )

    # lifecycle

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        await self.close()
        if exc_type is None and self.errors:
            raise AssertionError(f"the fake Discord failed internally: {self.errors!r}")

    async def start(self) -> None:
        """Start serving on an ephemeral 127.0.0.1 port (and point discord.py here)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/{version}/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        if self._point:
            self._previous_target = (
                discord.http.Route.BASE,
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
            )
            point_discord_at(self.api_base, self.gateway_url)

    async def close(self) -> None:
        """Close open gateway connections, stop serving and restore discord.py's target."""
        if self._socket is not None:
            await self._socket.close(1001, "fake Discord shutting down")
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=2.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._previous_target is not None:
            discord.http.Route.BASE = self._previous_target[0]
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._previous_target[1]
            self._previous_target = None

    # addresses and ids

    @property
    def api_base(self) -> str:
        """Like "http://127.0.0.1:PORT/api/v10"."""
        return f"http://127.0.0.1:{self._require_port()}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Like "ws://127.0.0.1:PORT/gateway" (what GET /gateway/bot and READY announce)."""
        return f"ws://127.0.0.1:{self._require_port()}/gateway"

    def _require_port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started; use `async with FakeDiscord() as fake`")
        return self._port

    @property
    def guild_id(self) -> int:
        return self.world.guild_id

    @property
    def bot_user_id(self) -> int:
        return int(self.world.bot_user["id"])

    @property
    def application_id(self) -> int:
        return self.world.application_id

    # what the bot did

    @property
    def messages(self) -> list[SentMessage]:
        """Messages the bot posted with POST /channels/{id}/messages, in order."""
        return self.rest.messages

    @property
    def message_edits(self) -> list[MessageEdit]:
        return self.rest.message_edits

    @property
    def interaction_responses(self) -> list[InteractionResponse]:
        return self.rest.interaction_responses

    @property
    def command_syncs(self) -> list[CommandSync]:
        return self.rest.command_syncs

    @property
    def threads(self) -> list[CreatedThread]:
        """Threads and forum posts the bot created."""
        return self.rest.threads

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request, including failed and injected-failure ones."""
        return self.rest.requests

    @property
    def identify(self) -> dict[str, Any] | None:
        """The latest IDENTIFY payload (`d`), e.g. to check `intents`."""
        for connection in reversed(self.gateway_connections):
            if connection.identify is not None:
                return connection.identify
        return None

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions inside the fake itself (bugs, not bot errors); non-empty fails the exit."""
        return self.rest.errors + self._gateway_errors

    @property
    def ready(self) -> bool:
        """True once a session exists and a client is connected to it."""
        return (
            self._session is not None
            and self._socket is not None
            and self._socket.session is not None
        )

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 429,
        retry_after: float = 0.2,
        is_global: bool = False,
        times: int = 1,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Fail the next `times` REST requests matching `method` and `path` (see RestApi)."""
        self.rest.fail_next(
            method,
            path,
            status=status,
            retry_after=retry_after,
            is_global=is_global,
            times=times,
            body=body,
        )

    # waiting

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 3.0) -> T:
        """Wait until `predicate()` is truthy (re-checked whenever the fake records something)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-10:]]
                raise TimeoutError(f"condition not met within {timeout}s; last requests: {recent}")
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass

    async def wait_until_ready(self, timeout: float = 3.0) -> None:
        """Wait until the client identified and got READY and GUILD_CREATE."""
        await self.wait_for(lambda: self.ready, timeout)

    # gateway server

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            return await self._serve_gateway(request)
        except Exception as exc:  # a bug in the fake: keep it for the test to see
            self._gateway_errors.append(exc)
            raise
        finally:
            self._handlers.discard(task)
            self._notify()

    async def _serve_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        info = GatewayConnection(query=dict(request.query))
        self.gateway_connections.append(info)
        sock = _Socket(ws, info)
        if self._socket is not None:  # one shard: a new connection replaces the old one
            await self._socket.close(4000, "replaced by a new connection")
        self._socket = sock
        try:
            if request.query.get("encoding", "json") != "json":
                await sock.close(4002, "the fake only speaks JSON")
                return ws
            if info.compress not in (None, "zlib-stream") and sock._zstd is None:
                await sock.close(4000, f"the fake cannot compress {info.compress}")
                return ws
            await sock.send(HELLO, {"heartbeat_interval": int(self.heartbeat_interval * 1000)})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_client_payload(sock, json.loads(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    await sock.close(4002, "the client must send text frames")
                    break
            return ws
        finally:
            info.closed = True
            if self._socket is sock:
                self._socket = None

    async def _on_client_payload(self, sock: _Socket, payload: dict[str, Any]) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == HEARTBEAT:
            sock.info.heartbeats += 1
            await sock.send(HEARTBEAT_ACK, None)
        elif op == IDENTIFY:
            await self._on_identify(sock, d)
        elif op == RESUME:
            await self._on_resume(sock, d)
        elif sock.session is None:
            await sock.close(4003, "Not authenticated.")
        elif op == PRESENCE:
            sock.info.presence_updates.append(d)
        elif op == REQUEST_MEMBERS:
            sock.info.member_requests.append(d)
            members = [self.world.member(uid) for uid in self.world.members]
            chunk = {
                "guild_id": str(self.guild_id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if d.get("nonce"):
                chunk["nonce"] = d["nonce"]
            await self._send_event(sock, "GUILD_MEMBERS_CHUNK", chunk)
        else:
            await sock.close(4001, "Unknown opcode.")
        self._notify()

    async def _on_identify(self, sock: _Socket, d: dict[str, Any]) -> None:
        sock.info.identify = d
        if sock.session is not None:
            await sock.close(4005, "Already authenticated.")
            return
        if d.get("token") != self.token:
            await sock.close(4004, "Authentication failed.")
            return
        intents = int(d.get("intents", 0))
        if self.reject_privileged_intents and intents & PRIVILEGED_INTENTS:
            await sock.close(4014, "Disallowed intent(s).")
            return
        session = _Session(secrets.token_hex(16), intents, d.get("shard"))
        self._session = sock.session = session
        ready = {
            "v": 10,
            "user": self.world.bot_user,
            "guilds": [self.world.unavailable_guild()],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self.world.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ['["fake-discord-gateway"]'],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._send_event(sock, "READY", ready)
        guild = self.world.guild(with_members=bool(intents & GUILD_MEMBERS))
        await self._send_event(sock, "GUILD_CREATE", guild)

    async def _on_resume(self, sock: _Socket, d: dict[str, Any]) -> None:
        sock.info.resume = d
        session = self._session
        if d.get("token") != self.token:
            await sock.close(4004, "Authentication failed.")
            return
        if session is None or d.get("session_id") != session.session_id:
            await sock.send(INVALID_SESSION, False)
            return
        sock.session = session
        missed = [e for e in session.events if e[0] > int(d.get("seq") or 0)]
        for seq, event, data in missed:
            await sock.send(DISPATCH, data, s=seq, t=event)
        sock.info.replayed = len(missed)
        await self._send_event(sock, "RESUMED", {"_trace": ['["fake-discord-gateway"]']})

    async def _send_event(self, sock: _Socket, event: str, data: dict[str, Any]) -> int:
        assert sock.session is not None
        session = sock.session
        session.seq += 1
        session.events.append((session.seq, event, data))
        await sock.send(DISPATCH, data, s=session.seq, t=event)
        return session.seq

    # dispatching events to the bot

    async def _echo(self, event: str, data: dict[str, Any]) -> None:
        # The bot may use REST before it ever connects; there is no session to echo into then.
        if self._session is not None:
            await self.dispatch(event, data)

    async def dispatch(self, event: str, data: dict[str, Any]) -> int | None:
        """Dispatch a raw gateway event in the current session; returns its sequence number.

        Events the session's intents exclude are dropped (None). While the client is between
        connections the event is only stored, and a RESUME replays it.
        """
        session = self._session
        if session is None:
            raise RuntimeError("no gateway session yet: await fake.wait_until_ready() first")
        data = self._filter(session.intents, event, data)
        if data is None:
            return None
        session.seq += 1
        session.events.append((session.seq, event, data))
        sock = self._socket
        if sock is not None and sock.session is session:
            await sock.send(DISPATCH, data, s=session.seq, t=event)
        return session.seq

    def _filter(self, intents: int, event: str, data: dict[str, Any]) -> dict[str, Any] | None:
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE") or "guild_id" not in data:
            return data
        if not intents & GUILD_MESSAGES:
            return None
        bot_id = str(self.bot_user_id)
        own = data.get("author", {}).get("id") == bot_id
        mentioned = any(u.get("id") == bot_id for u in data.get("mentions", []))
        if intents & MESSAGE_CONTENT or own or mentioned:
            return data
        # Without the message content intent Discord blanks these fields.
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    async def dispatch_message(
        self,
        channel_id: int,
        content: str = "",
        *,
        author_id: int | None = None,
        author_name: str | None = None,
        embeds: Sequence[Mapping[str, Any]] = (),
        attachments: Sequence[Mapping[str, Any]] = (),
        crosspost: bool = False,
        source: tuple[int, int, int] | None = None,
        roles: Sequence[int] = (),
        bot: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """Post a message as a user (MESSAGE_CREATE); returns its id.

        With `crosspost=True` it arrives as Discord delivers a followed announcement: from a
        webhook author, flags |= IS_CROSSPOST (2) and `message_reference` pointing at `source`
        (guild_id, channel_id, message_id; random ids by default).
        """
        self.world.channel(channel_id)
        webhook_id = reference = None
        flags = 0
        if crosspost:
            webhook_id = self.world.snowflake()
            src_guild, src_channel, src_message = source or (
                self.world.snowflake(),
                self.world.snowflake(),
                self.world.snowflake(),
            )
            reference = {
                "type": 0,
                "message_id": str(src_message),
                "channel_id": str(src_channel),
                "guild_id": str(src_guild),
            }
            flags |= IS_CROSSPOST
            author = {
                "id": str(webhook_id),
                "username": author_name or "Source Newsroom #announcements",
                "discriminator": "0000",
                "global_name": None,
                "avatar": None,
                "bot": True,
                "public_flags": 0,
            }
        else:
            user_id = author_id if author_id is not None else self.world.owner_id
            author = self.world.add_user(user_id, author_name, bot=bot)
            member = self.world.add_member(user_id)
            for role_id in roles:
                if str(role_id) not in member["roles"]:
                    member["roles"].append(str(role_id))
        message = self.world.new_message(
            channel_id,
            author=author,
            content=content,
            embeds=embeds,
            attachments=attachments,
            flags=flags,
            webhook_id=webhook_id,
            message_reference=reference,
            extra=extra,
        )
        await self.dispatch("MESSAGE_CREATE", self.world.message_event(message))
        return int(message["id"])

    async def dispatch_message_update(
        self,
        message_id: int,
        *,
        content: str | None = None,
        embeds: Sequence[Mapping[str, Any]] | None = None,
        edited: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Edit a stored message and dispatch MESSAGE_UPDATE with the full message (as v10 does).

        `edited=False` models an embed unfurl, which leaves `edited_timestamp` alone.
        """
        message = self.world.message(message_id)
        if content is not None:
            message["content"] = content
        if embeds is not None:
            message["embeds"] = [{"type": "rich", **e} for e in embeds]
        if extra:
            message.update(extra)
        if edited:
            message["edited_timestamp"] = iso()
        await self.dispatch("MESSAGE_UPDATE", self.world.message_event(message))

    async def dispatch_interaction(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        user_id: int | None = None,
        permissions: int | str | None = None,
        channel_id: int | None = None,
        roles: Sequence[int] = (),
        locale: str = "en-US",
    ) -> int:
        """Invoke a synced slash command (INTERACTION_CREATE type 2); returns the interaction id.

        `name` may be "group sub" for subcommands. `options` is {name: value} (typed from the
        synced command: strings, ints, bools, numbers, and user/channel/role ids with their
        `resolved` data) or a list of raw option payloads. `permissions` defaults to what the
        member's roles grant.
        """
        root, *path = name.split()
        command, scope = self.world.find_command(root)
        data: dict[str, Any] = {"id": command["id"], "name": root, "type": command.get("type", 1)}
        if scope is not None:
            data["guild_id"] = str(scope)
        resolved: dict[str, dict[str, Any]] = {}
        built = _build_options(self.world, command, path, options, resolved)
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved

        user_id = user_id if user_id is not None else self.world.owner_id
        self.world.add_user(user_id)
        member = self.world.add_member(user_id)
        for role_id in roles:
            if str(role_id) not in member["roles"]:
                member["roles"].append(str(role_id))
        perms = str(permissions if permissions is not None else self.world.permissions_of(user_id))
        channel_id = channel_id if channel_id is not None else self.world.first_channel(TEXT)
        channel = self.world.channel(channel_id)
        interaction_id = self.world.snowflake()
        token = "fake-interaction-" + secrets.token_urlsafe(24)
        self.world.interactions[interaction_id] = OpenInteraction(
            interaction_id, token, channel_id, user_id
        )
        app_permissions = str(self.world.permissions_of(self.bot_user_id))
        payload = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": 2,
            "data": data,
            "guild_id": str(self.guild_id),
            "guild": {
                "id": str(self.guild_id),
                "locale": "en-US",
                "features": ["COMMUNITY", "NEWS"],
            },
            "channel_id": str(channel_id),
            "channel": {**channel, "permissions": perms},
            "member": {**self.world.member(user_id), "permissions": perms},
            "token": token,
            "version": 1,
            "app_permissions": app_permissions,
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    # connection control

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client closes and RESUMEs on `resume_gateway_url`."""
        if self._socket is not None:
            await self._socket.send(RECONNECT, None)

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; with `resumable=False` the client must IDENTIFY again."""
        if self._socket is not None:
            if not resumable:
                self._session = None
            await self._socket.send(INVALID_SESSION, resumable)

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway socket with `code` (4000 = unknown error, which clients resume)."""
        if self._socket is not None:
            await self._socket.close(code, "dropped by the test")


def _build_options(
    world: DiscordWorld,
    command: Mapping[str, Any],
    path: Sequence[str],
    options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    resolved: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Build interaction options, nesting subcommand groups/subcommands named in `path`."""
    schema: Sequence[Mapping[str, Any]] = command.get("options") or []
    if path:
        sub = next((o for o in schema if o["name"] == path[0] and o.get("type") in (1, 2)), None)
        if sub is None:
            raise LookupError(f"{command['name']!r} has no subcommand {path[0]!r}")
        inner = _build_options(world, sub, path[1:], options, resolved)
        return [{"name": sub["name"], "type": sub["type"], "options": inner}]
    if options is None:
        return []
    if not isinstance(options, Mapping):
        return [dict(o) for o in options]
    built = []
    for name, value in options.items():
        spec = next((o for o in schema if o["name"] == name), None)
        if spec is None:
            known = [o["name"] for o in schema]
            raise LookupError(f"{command['name']!r} has no option {name!r} (options: {known})")
        kind = int(spec["type"])
        built.append(
            {"name": name, "type": kind, "value": _option_value(world, kind, value, resolved)}
        )
    return built


def _option_value(
    world: DiscordWorld, kind: int, value: Any, resolved: dict[str, dict[str, Any]]
) -> Any:
    if kind == 3:
        return str(value)
    if kind == 4:
        return int(value)
    if kind == 5:
        return bool(value)
    if kind == 10:
        return float(value)
    snowflake = str(int(value))
    if kind in (6, 9) and int(value) in world.users:
        resolved.setdefault("users", {})[snowflake] = world.users[int(value)]
        if int(value) in world.members:
            member = world.member(int(value), with_user=False)
            member["permissions"] = str(world.permissions_of(int(value)))
            resolved.setdefault("members", {})[snowflake] = member
    elif kind in (8, 9) and int(value) in world.roles:
        resolved.setdefault("roles", {})[snowflake] = world.roles[int(value)]
    elif kind == 7:
        channel = world.channel(int(value))
        resolved.setdefault("channels", {})[snowflake] = {
            **channel,
            "permissions": str(world.permissions_of(world.owner_id)),
        }
    else:
        raise ValueError(f"cannot build a value of option type {kind} from {value!r}")
    return snowflake
