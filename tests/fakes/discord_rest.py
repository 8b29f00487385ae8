"""This module contains the REST half of a loopback fake of Discord's API for discord.py 2.7.

`DiscordWorld` holds the fake's state (one guild with channels, roles and members, the messages
in it, synced application commands, open interactions) and builds payloads in the shapes
discord.py parses. `RestApi` serves the REST routes the client uses, records what the bot sends
and can inject failures (429 with the real body and headers, 5xx). The gateway half lives in
`tests.fakes.discord_gateway`, which wires both into one aiohttp server.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

DISCORD_EPOCH_MS = 1_420_070_400_000

# Channel types (https://discord.com/developers/docs/resources/channel#channel-object-channel-types).
TEXT, VOICE, CATEGORY, ANNOUNCEMENT = 0, 2, 4, 5
ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD, FORUM, MEDIA = 10, 11, 12, 15, 16
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})
CHANNEL_TYPE_NAMES = {
    "text": TEXT,
    "voice": VOICE,
    "category": CATEGORY,
    "news": ANNOUNCEMENT,
    "announcement": ANNOUNCEMENT,
    "news_thread": ANNOUNCEMENT_THREAD,
    "announcement_thread": ANNOUNCEMENT_THREAD,
    "thread": PUBLIC_THREAD,
    "public_thread": PUBLIC_THREAD,
    "private_thread": PRIVATE_THREAD,
    "forum": FORUM,
    "media": MEDIA,
}

# Message flags.
CROSSPOSTED, IS_CROSSPOST, EPHEMERAL, LOADING = 1 << 0, 1 << 1, 1 << 6, 1 << 7

# Message types.
DEFAULT_MESSAGE, REPLY, CHAT_INPUT_COMMAND = 0, 19, 20

# Permission bits used for defaults.
_P = {
    "add_reactions": 1 << 6,
    "view_channel": 1 << 10,
    "send_messages": 1 << 11,
    "manage_messages": 1 << 13,
    "embed_links": 1 << 14,
    "attach_files": 1 << 15,
    "read_message_history": 1 << 16,
    "mention_everyone": 1 << 17,
    "use_application_commands": 1 << 31,
    "create_public_threads": 1 << 35,
    "send_messages_in_threads": 1 << 38,
}
EVERYONE_PERMISSIONS = sum(
    v for k, v in _P.items() if k not in {"manage_messages", "mention_everyone"}
)
BOT_PERMISSIONS = sum(_P.values())

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


def iso(moment: datetime | None = None) -> str:
    """Return `moment` (default: now) as Discord's ISO-8601 timestamp."""
    return (moment or datetime.now(UTC)).isoformat()


class Snowflakes:
    """Hands out unique snowflakes whose timestamps are now, as Discord's are."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self) -> int:
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (next(self._counter) & 0x3FFFFF)


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """One REST request as the fake received it (`path` is relative to the API base)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int


@dataclass(frozen=True)
class SentMessage:
    """A message the bot created with POST /channels/{id}/messages."""

    channel_id: int
    message_id: int
    payload: dict[str, Any]
    files: tuple[UploadedFile, ...] = ()

    @property
    def content(self) -> str | None:
        return self.payload.get("content")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.payload.get("embeds") or []


@dataclass(frozen=True)
class MessageEdit:
    """A PATCH /channels/{id}/messages/{mid} by the bot."""

    channel_id: int
    message_id: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class InteractionResponse:
    """Anything the bot sent for an interaction.

    `kind` is "callback" (POST /interactions/{id}/{token}/callback; `type` is the callback type,
    4 = message, 5 = deferred), "edit_original", "followup", "edit_followup" or "delete".
    `data` is the callback's `data` or the webhook payload.
    """

    interaction_id: int
    token: str
    kind: str
    type: int | None
    data: dict[str, Any] | None
    message_id: int | None
    files: tuple[UploadedFile, ...] = ()


@dataclass(frozen=True)
class CommandSync:
    """A bulk overwrite of application commands; `guild_id` is None for global commands."""

    guild_id: int | None
    commands: list[dict[str, Any]]

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.commands]


@dataclass(frozen=True)
class CreatedThread:
    """A POST /channels/{id}/threads (forum post or thread) by the bot."""

    parent_id: int
    thread_id: int
    payload: dict[str, Any]
    files: tuple[UploadedFile, ...] = ()

    @property
    def message(self) -> dict[str, Any] | None:
        return self.payload.get("message")


@dataclass
class Failure:
    """A failure to serve instead of the next matching request(s)."""

    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    is_global: bool
    remaining: int
    body: dict[str, Any] | None


@dataclass
class OpenInteraction:
    """An interaction the fake dispatched and the bot may answer."""

    id: int
    token: str
    channel_id: int | None
    user_id: int = 0
    responded: bool = False
    original_message_id: int | None = None
    followups: list[int] = field(default_factory=list)


class DiscordHTTPError(Exception):
    """Raised by a route handler to answer with a Discord JSON error."""

    def __init__(self, status: int, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


# --- world ---------------------------------------------------------------------------------------


ChannelSpec = Mapping[str, Any] | tuple[Any, ...]
RoleSpec = Mapping[str, Any] | tuple[Any, ...]
MemberSpec = Mapping[str, Any] | tuple[Any, ...]


class DiscordWorld:
    """The fake's state: one guild and everything in it, in Discord's payload shapes."""

    def __init__(
        self,
        *,
        guild_id: int,
        guild_name: str,
        bot_user_id: int,
        bot_name: str,
        application_id: int,
        owner_id: int,
        channels: Sequence[ChannelSpec] | None,
        roles: Sequence[RoleSpec] = (),
        members: Sequence[MemberSpec] = (),
        application_flags: int = 0,
    ) -> None:
        self.snowflake = Snowflakes()
        self.guild_id = guild_id
        self.guild_name = guild_name
        self.application_id = application_id
        self.application_flags = application_flags
        self.owner_id = owner_id
        self.joined_at = iso()
        self.users: dict[int, dict[str, Any]] = {}
        self.bot_user = self.add_user(bot_user_id, bot_name, bot=True)
        self.bot_user.update(verified=True, mfa_enabled=False, flags=0)
        self.add_user(owner_id, "owner")

        # The @everyone role shares the guild's id; the bot gets its managed integration role.
        self.roles: dict[int, dict[str, Any]] = {}
        self._add_role({"id": guild_id, "name": "@everyone", "permissions": EVERYONE_PERMISSIONS})
        self.bot_role_id = self.snowflake()
        self._add_role(
            {
                "id": self.bot_role_id,
                "name": bot_name,
                "permissions": BOT_PERMISSIONS,
                "managed": True,
                "tags": {"bot_id": str(bot_user_id)},
            }
        )
        for spec in roles:
            self._add_role(_role_spec(spec))

        self.members: dict[int, dict[str, Any]] = {}
        self.add_member(bot_user_id, roles=[self.bot_role_id])
        self.add_member(owner_id)
        for spec in members:
            user_id, name, role_ids = _member_spec(spec)
            self.add_user(user_id, name)
            self.add_member(user_id, roles=role_ids)

        self.channels: dict[int, dict[str, Any]] = {}
        for position, spec in enumerate(channels if channels is not None else DEFAULT_CHANNELS):
            self.add_channel(spec, position=position)

        self.messages: dict[int, dict[str, Any]] = {}
        # scope (guild id, or None for global) -> name -> command payload
        self.commands: dict[int | None, dict[str, dict[str, Any]]] = {}
        self.interactions: dict[int, OpenInteraction] = {}

    # users, roles, members

    def add_user(
        self, user_id: int, name: str | None = None, *, bot: bool = False
    ) -> dict[str, Any]:
        """Register (or return) a user; new users are named `user<id>` by default."""
        if user_id in self.users:
            return self.users[user_id]
        user = {
            "id": str(user_id),
            "username": name or f"user{user_id}",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }
        self.users[user_id] = user
        return user

    def _add_role(self, data: dict[str, Any]) -> None:
        role = {
            "name": "role",
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": len(self.roles),
            "managed": False,
            "mentionable": False,
            "flags": 0,
            **data,
        }
        role["id"] = str(role["id"])
        role["permissions"] = str(role["permissions"])
        self.roles[int(role["id"])] = role

    def add_member(self, user_id: int, *, roles: Iterable[int] = ()) -> dict[str, Any]:
        """Make `user_id` a guild member (without the nested user) and return it."""
        if user_id not in self.members:
            self.add_user(user_id)
            self.members[user_id] = {
                "roles": [str(r) for r in roles],
                "nick": None,
                "avatar": None,
                "banner": None,
                "joined_at": self.joined_at,
                "premium_since": None,
                "deaf": False,
                "mute": False,
                "flags": 0,
                "pending": False,
                "communication_disabled_until": None,
            }
        return self.members[user_id]

    def member(self, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        member = dict(self.add_member(user_id))
        if with_user:
            member["user"] = self.users[user_id]
        return member

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions from @everyone plus the member's roles."""
        value = int(self.roles[self.guild_id]["permissions"])
        for role_id in self.add_member(user_id)["roles"]:
            value |= int(self.roles[int(role_id)]["permissions"])
        return value

    # channels

    def add_channel(self, spec: ChannelSpec, *, position: int | None = None) -> dict[str, Any]:
        """Add a channel from a payload dict or an `(id, name, type[, parent_id])` tuple."""
        if isinstance(spec, Mapping):
            data = dict(spec)
            kind = _channel_type(data.get("type", TEXT))
            channel_id, name, parent_id = (
                int(data["id"]),
                data.get("name", ""),
                data.get("parent_id"),
            )
        else:
            channel_id, name, kind_spec, *rest = spec
            kind = _channel_type(kind_spec)
            parent_id = rest[0] if rest else None
            data = {}
        if kind in THREAD_TYPES and parent_id is None:
            parent_type = ANNOUNCEMENT if kind == ANNOUNCEMENT_THREAD else TEXT
            parent_id = next(
                (cid for cid, c in self.channels.items() if c["type"] == parent_type), None
            )
            if parent_id is None:
                raise ValueError(
                    f"thread {channel_id} needs a parent_id (no channel of its kind yet)"
                )
        payload = self._channel_payload(
            int(channel_id),
            name,
            kind,
            parent_id,
            len(self.channels) if position is None else position,
        )
        payload.update({k: v for k, v in data.items() if k not in {"id", "type"}})
        self.channels[int(channel_id)] = payload
        return payload

    def _channel_payload(
        self, channel_id: int, name: str, kind: int, parent_id: int | None, position: int
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(channel_id),
            "type": kind,
            "guild_id": str(self.guild_id),
            "name": name,
            "parent_id": None if parent_id is None else str(parent_id),
            "nsfw": False,
            "rate_limit_per_user": 0,
            "flags": 0,
            "last_message_id": None,
        }
        if kind in THREAD_TYPES:
            now = iso()
            payload.update(
                owner_id=str(self.bot_user["id"]),
                message_count=0,
                member_count=1,
                total_message_sent=0,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": now,
                    "locked": False,
                    "create_timestamp": now,
                },
            )
            return payload
        payload.update(position=position, permission_overwrites=[], topic=None)
        if kind in (TEXT, ANNOUNCEMENT):
            payload.update(default_auto_archive_duration=1440, default_thread_rate_limit_per_user=0)
        elif kind in (FORUM, MEDIA):
            payload.update(
                available_tags=[],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_auto_archive_duration=1440,
                default_thread_rate_limit_per_user=0,
            )
        elif kind == VOICE:
            payload.update(bitrate=64000, user_limit=0, rtc_region=None)
        return payload

    def channel(self, channel_id: int) -> dict[str, Any]:
        try:
            return self.channels[int(channel_id)]
        except (KeyError, ValueError):
            raise DiscordHTTPError(404, "Unknown Channel", 10003) from None

    def first_channel(self, kind: int = TEXT) -> int:
        for channel_id, channel in self.channels.items():
            if channel["type"] == kind:
                return channel_id
        raise LookupError(f"the fake guild has no channel of type {kind}")

    def guild_channels(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] not in THREAD_TYPES]

    def threads(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] in THREAD_TYPES]

    # guild payloads

    def unavailable_guild(self) -> dict[str, Any]:
        return {"id": str(self.guild_id), "unavailable": True}

    def guild(self, *, with_members: bool) -> dict[str, Any]:
        """The GUILD_CREATE payload; without the members intent only the bot is listed."""
        bot_id = int(self.bot_user["id"])
        listed = self.members if with_members else {bot_id: self.members[bot_id]}
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "features": ["COMMUNITY", "NEWS"],
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "application_id": None,
            "roles": list(self.roles.values()),
            "emojis": [],
            "stickers": [],
            "joined_at": self.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [{**m, "user": self.users[uid]} for uid, m in listed.items()],
            "channels": self.guild_channels(),
            "threads": self.threads(),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def application(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot_user,
            "owner": self.users[self.owner_id],
            "team": None,
            "verify_key": hashlib.sha256(str(self.application_id).encode()).hexdigest(),
            "flags": self.application_flags,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "approximate_guild_count": 1,
            "integration_types_config": {},
        }

    # messages

    def new_message(
        self,
        channel_id: int,
        *,
        author: dict[str, Any],
        content: str = "",
        embeds: Sequence[Mapping[str, Any]] = (),
        attachments: Sequence[Mapping[str, Any]] = (),
        flags: int = 0,
        kind: int = DEFAULT_MESSAGE,
        message_id: int | None = None,
        webhook_id: int | None = None,
        message_reference: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create and store a message in its REST shape (no guild_id/member)."""
        self.channel(channel_id)
        message_id = message_id or self.snowflake()
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": author,
            "content": content,
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": "@everyone" in content or "@here" in content,
            "mentions": self._mentioned_users(content),
            "mention_roles": re.findall(r"<@&(\d+)>", content),
            "attachments": list(attachments),
            "embeds": [{"type": "rich", **e} for e in embeds],
            "reactions": [],
            "pinned": False,
            "type": kind,
            "flags": flags,
            "components": [],
        }
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
        if message_reference is not None:
            message["message_reference"] = dict(message_reference)
        if extra:
            message.update(extra)
        self.messages[message_id] = message
        self.channels[int(channel_id)]["last_message_id"] = str(message_id)
        return message

    def _mentioned_users(self, content: str) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        for raw in re.findall(r"<@!?(\d+)>", content):
            user = self.users.get(int(raw))
            if user is not None and user not in seen:
                seen.append(user)
        return seen

    def message(self, message_id: int | str) -> dict[str, Any]:
        try:
            return self.messages[int(message_id)]
        except (KeyError, ValueError):
            raise DiscordHTTPError(404, "Unknown Message", 10008) from None

    def message_event(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """A stored message in its gateway shape: guild_id, member, mentions with members."""
        event = dict(message)
        event["guild_id"] = str(self.guild_id)
        author_id = int(message["author"]["id"])
        if "webhook_id" not in message and author_id in self.members:
            event["member"] = self.member(author_id, with_user=False)
        event["mentions"] = [
            {**u, "member": self.member(int(u["id"]), with_user=False)}
            if int(u["id"]) in self.members
            else u
            for u in message.get("mentions", [])
        ]
        return event

    # application commands

    def overwrite_commands(
        self, scope: int | None, payload: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Bulk-overwrite the commands of `scope`, keeping ids of commands that survive."""
        old = self.commands.get(scope, {})
        new: dict[str, dict[str, Any]] = {}
        for raw in payload:
            previous = old.get(raw["name"])
            command = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **raw,
                "id": previous["id"] if previous else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
            }
            if scope is not None:
                command["guild_id"] = str(scope)
            new[command["name"]] = command
        self.commands[scope] = new
        return list(new.values())

    def find_command(self, name: str) -> tuple[dict[str, Any], int | None]:
        """Find a synced command by name, guild commands first (as the client would see it)."""
        for scope in (self.guild_id, None):
            command = self.commands.get(scope, {}).get(name)
            if command is not None:
                return command, scope
        synced = {str(s): sorted(c) for s, c in self.commands.items()}
        raise LookupError(
            f"no application command {name!r} was synced to the fake (synced: {synced}); "
            "Discord only delivers commands it knows"
        )


DEFAULT_CHANNELS: tuple[tuple[Any, ...], ...] = (
    (1001, "general", TEXT),
    (1002, "announcements", ANNOUNCEMENT),
    (1003, "general-thread", PUBLIC_THREAD, 1001),
    (1004, "stories", FORUM),
)


def _channel_type(value: int | str) -> int:
    if isinstance(value, int):
        return value
    try:
        return CHANNEL_TYPE_NAMES[value]
    except KeyError:
        raise ValueError(
            f"unknown channel type {value!r}; use one of {sorted(CHANNEL_TYPE_NAMES)}"
        ) from None


def _role_spec(spec: RoleSpec) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        return dict(spec)
    role_id, name, *rest = spec
    return {"id": role_id, "name": name, "permissions": rest[0] if rest else 0}


def _member_spec(spec: MemberSpec) -> tuple[int, str | None, list[int]]:
    if isinstance(spec, Mapping):
        return int(spec["id"]), spec.get("name"), [int(r) for r in spec.get("roles", ())]
    user_id, name, *rest = spec
    return int(user_id), name, [int(r) for r in (rest[0] if rest else ())]


# --- REST ----------------------------------------------------------------------------------------


@dataclass
class RestRequest:
    """A parsed request as route handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    json: Any
    files: tuple[UploadedFile, ...]


Handler = Callable[[RestRequest], Awaitable[tuple[int, Any]]]
EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]

# Interaction callbacks and interaction webhooks are authorised by their token, not the bot's.
_TOKEN_AUTHORISED = ("/interactions/", "/webhooks/")


class RestApi:
    """Serves Discord's REST routes for one `DiscordWorld` and records what the bot sends."""

    def __init__(
        self,
        world: DiscordWorld,
        *,
        token: str,
        gateway_url: Callable[[], str],
        emit: EventSink,
        notify: Callable[[], None],
        echo_own_messages: bool = True,
    ) -> None:
        self.world = world
        self.token = token
        self._gateway_url = gateway_url
        self._emit = emit
        self._notify = notify
        self.echo_own_messages = echo_own_messages
        self.requests: list[RecordedRequest] = []
        self.messages: list[SentMessage] = []
        self.message_edits: list[MessageEdit] = []
        self.interaction_responses: list[InteractionResponse] = []
        self.command_syncs: list[CommandSync] = []
        self.threads: list[CreatedThread] = []
        self.errors: list[BaseException] = []
        self._failures: list[Failure] = []
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = []
        self._register_routes()

    # failure injection

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
        """Answer the next `times` requests matching `method` and `path` with `status`.

        `path` is relative to the API base; `{placeholders}` match one segment, so
        "/channels/{id}/messages" matches every channel.
        """
        self._failures.append(
            Failure(
                method.upper(), _template_regex(path), status, retry_after, is_global, times, body
            )
        )

    def _take_failure(self, method: str, path: str) -> Failure | None:
        for failure in self._failures:
            if failure.method == method and failure.pattern.fullmatch(path):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    # entry point

    async def handle(self, request: web.Request) -> web.Response:
        """Serve one request whose path starts with /api/v{n}."""
        path = "/" + request.match_info["tail"]
        method = request.method.upper()
        query = dict(request.query)
        body_json: Any = None
        status = 500
        try:
            body_json, files = await _read_body(request)
            failure = self._take_failure(method, path)
            if failure is not None:
                status = failure.status
                return _failure_response(failure, f"{method} {self._template(method, path)}")
            if (
                not path.startswith(_TOKEN_AUTHORISED)
                and request.headers.get("Authorization") != f"Bot {self.token}"
            ):
                raise DiscordHTTPError(401, "401: Unauthorized", 0)
            handler, template, params = self._route(method, path)
            status, payload = await handler(
                RestRequest(method, path, params, query, body_json, files)
            )
            return _json_response(status, payload, bucket=f"{method} {template}")
        except DiscordHTTPError as exc:
            status = exc.status
            return _json_response(exc.status, {"message": exc.message, "code": exc.code})
        except Exception as exc:  # a bug in the fake: answer 500 and keep it for the test to see
            self.errors.append(exc)
            status = 500
            return _json_response(500, {"message": f"fake Discord error: {exc!r}", "code": 0})
        finally:
            self.requests.append(RecordedRequest(method, path, query, body_json, status))
            self._notify()

    def _route(self, method: str, path: str) -> tuple[Handler, str, dict[str, str]]:
        for route_method, template, pattern, handler in self._routes:
            if route_method == method:
                match = pattern.fullmatch(path)
                if match:
                    return handler, template, match.groupdict()
        raise DiscordHTTPError(404, f"404: Not Found ({method} {path} is not faked)", 0)

    def _template(self, method: str, path: str) -> str:
        try:
            return self._route(method, path)[1]
        except DiscordHTTPError:
            return path

    def _add(self, method: str, template: str, handler: Handler) -> None:
        self._routes.append((method, template, _template_regex(template), handler))

    def _register_routes(self) -> None:
        add = self._add
        add("GET", "/users/@me", self._get_me)
        add("GET", "/gateway", self._get_gateway)
        add("GET", "/gateway/bot", self._get_gateway_bot)
        add("GET", "/oauth2/applications/@me", self._get_application)
        add("GET", "/applications/@me", self._get_application)
        add("GET", "/guilds/{guild_id}", self._get_guild)
        add("GET", "/guilds/{guild_id}/channels", self._get_guild_channels)
        add("GET", "/channels/{channel_id}", self._get_channel)
        add("POST", "/channels/{channel_id}/typing", self._no_content)
        add("POST", "/channels/{channel_id}/messages", self._create_message)
        add("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message)
        add("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message)
        add("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message)
        add("POST", "/channels/{channel_id}/messages/{message_id}/crosspost", self._publish)
        add("POST", "/channels/{channel_id}/threads", self._create_thread)
        add("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._create_thread)
        add("GET", "/applications/{app_id}/commands", self._get_commands)
        add("PUT", "/applications/{app_id}/commands", self._put_commands)
        add("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self._get_commands)
        add("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self._put_commands)
        add("POST", "/interactions/{interaction_id}/{token}/callback", self._interaction_callback)
        add("GET", "/webhooks/{app_id}/{token}/messages/@original", self._get_original)
        add("PATCH", "/webhooks/{app_id}/{token}/messages/@original", self._edit_original)
        add("DELETE", "/webhooks/{app_id}/{token}/messages/@original", self._delete_original)
        add("POST", "/webhooks/{app_id}/{token}", self._followup)
        add("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", self._edit_followup)
        add("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", self._delete_followup)

    # identity and discovery

    async def _get_me(self, req: RestRequest) -> tuple[int, Any]:
        return 200, self.world.bot_user

    async def _get_gateway(self, req: RestRequest) -> tuple[int, Any]:
        return 200, {"url": self._gateway_url()}

    async def _get_gateway_bot(self, req: RestRequest) -> tuple[int, Any]:
        limit = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
        return 200, {"url": self._gateway_url(), "shards": 1, "session_start_limit": limit}

    async def _get_application(self, req: RestRequest) -> tuple[int, Any]:
        return 200, self.world.application()

    async def _get_guild(self, req: RestRequest) -> tuple[int, Any]:
        self._check_guild(req.params["guild_id"])
        guild = self.world.guild(with_members=False)
        for key in ("members", "channels", "threads", "presences", "voice_states", "joined_at"):
            guild.pop(key)
        return 200, guild

    async def _get_guild_channels(self, req: RestRequest) -> tuple[int, Any]:
        self._check_guild(req.params["guild_id"])
        return 200, self.world.guild_channels()

    async def _get_channel(self, req: RestRequest) -> tuple[int, Any]:
        return 200, self.world.channel(req.params["channel_id"])

    async def _no_content(self, req: RestRequest) -> tuple[int, Any]:
        self.world.channel(req.params["channel_id"])
        return 204, None

    def _check_guild(self, guild_id: str) -> None:
        if guild_id != str(self.world.guild_id):
            raise DiscordHTTPError(404, "Unknown Guild", 10004)

    # channel messages

    async def _create_message(self, req: RestRequest) -> tuple[int, Any]:
        channel_id = int(req.params["channel_id"])
        channel = self.world.channel(channel_id)
        if channel["type"] in (CATEGORY, FORUM, MEDIA):
            raise DiscordHTTPError(400, "Cannot send messages in a non-text channel", 50008)
        payload = _payload(req)
        message = self._bot_message(channel_id, payload, req.files)
        self.messages.append(SentMessage(channel_id, int(message["id"]), payload, req.files))
        await self._echo("MESSAGE_CREATE", message)
        return 200, message

    def _bot_message(
        self,
        channel_id: int,
        payload: Mapping[str, Any],
        files: Sequence[UploadedFile],
        *,
        message_id: int | None = None,
        kind: int | None = None,
        webhook_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        reference = payload.get("message_reference")
        if reference is not None:
            reference = {
                "channel_id": str(channel_id),
                "guild_id": str(self.world.guild_id),
                **reference,
            }
        message = self.world.new_message(
            channel_id,
            author=self.world.bot_user,
            content=payload.get("content") or "",
            embeds=payload.get("embeds") or (),
            attachments=self._attachments(channel_id, payload, files),
            flags=int(payload.get("flags") or 0),
            kind=kind if kind is not None else (REPLY if reference else DEFAULT_MESSAGE),
            message_id=message_id,
            webhook_id=webhook_id,
            message_reference=reference,
            extra=extra,
        )
        if reference is not None and reference.get("message_id"):
            message["referenced_message"] = self.world.messages.get(int(reference["message_id"]))
        return message

    def _attachments(
        self, channel_id: int, payload: Mapping[str, Any], files: Sequence[UploadedFile]
    ) -> list[dict[str, Any]]:
        uploads = {f.field: f for f in files}
        result = []
        for index, meta in enumerate(payload.get("attachments") or []):
            upload = uploads.get(f"files[{meta.get('id', index)}]")
            if upload is None:
                continue  # a kept attachment on edit: nothing new uploaded
            attachment_id = self.world.snowflake()
            filename = meta.get("filename") or upload.filename or f"file{index}"
            url = f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{filename}"
            result.append(
                {
                    "id": str(attachment_id),
                    "filename": filename,
                    "description": meta.get("description"),
                    "content_type": upload.content_type,
                    "size": len(upload.data),
                    "url": url,
                    "proxy_url": url,
                }
            )
        return result

    async def _get_message(self, req: RestRequest) -> tuple[int, Any]:
        self.world.channel(req.params["channel_id"])
        return 200, self.world.message(req.params["message_id"])

    async def _edit_message(self, req: RestRequest) -> tuple[int, Any]:
        channel_id = int(req.params["channel_id"])
        self.world.channel(channel_id)
        message = self.world.message(req.params["message_id"])
        if message["author"]["id"] != self.world.bot_user["id"]:
            raise DiscordHTTPError(403, "Cannot edit a message authored by another user", 50005)
        payload = _payload(req)
        self._apply_edit(message, payload, req.files)
        self.message_edits.append(MessageEdit(channel_id, int(message["id"]), payload))
        await self._echo("MESSAGE_UPDATE", message)
        return 200, message

    def _apply_edit(
        self, message: dict[str, Any], payload: Mapping[str, Any], files: Sequence[UploadedFile]
    ) -> None:
        if "content" in payload:
            message["content"] = payload["content"] or ""
        if "embeds" in payload:
            message["embeds"] = [{"type": "rich", **e} for e in payload["embeds"] or []]
        if "flags" in payload and payload["flags"] is not None:
            message["flags"] = int(payload["flags"])
        if "attachments" in payload:
            kept_ids = {str(a.get("id")) for a in payload["attachments"] or []}
            kept = [a for a in message["attachments"] if a["id"] in kept_ids]
            message["attachments"] = kept + self._attachments(
                int(message["channel_id"]), payload, files
            )
        message["flags"] = message["flags"] & ~LOADING
        message["edited_timestamp"] = iso()

    async def _delete_message(self, req: RestRequest) -> tuple[int, Any]:
        self.world.channel(req.params["channel_id"])
        message = self.world.message(req.params["message_id"])
        del self.world.messages[int(message["id"])]
        if self.echo_own_messages:
            await self._emit(
                "MESSAGE_DELETE",
                {
                    "id": message["id"],
                    "channel_id": message["channel_id"],
                    "guild_id": str(self.world.guild_id),
                },
            )
        return 204, None

    async def _publish(self, req: RestRequest) -> tuple[int, Any]:
        channel = self.world.channel(req.params["channel_id"])
        if channel["type"] != ANNOUNCEMENT:
            raise DiscordHTTPError(400, "Cannot execute action on this channel type", 50024)
        message = self.world.message(req.params["message_id"])
        message["flags"] |= CROSSPOSTED
        return 200, message

    # threads and forum posts

    async def _create_thread(self, req: RestRequest) -> tuple[int, Any]:
        parent_id = int(req.params["channel_id"])
        parent = self.world.channel(parent_id)
        payload = _payload(req)
        from_message = req.params.get("message_id")
        is_forum = parent["type"] in (FORUM, MEDIA)
        if is_forum and "message" not in payload:
            raise DiscordHTTPError(400, "Invalid Form Body: message is required in a forum", 50035)
        if from_message is not None:
            thread_id = int(self.world.message(from_message)["id"])  # such threads share the id
            kind = ANNOUNCEMENT_THREAD if parent["type"] == ANNOUNCEMENT else PUBLIC_THREAD
        else:
            thread_id = self.world.snowflake()
            kind = PUBLIC_THREAD if is_forum else int(payload.get("type") or PRIVATE_THREAD)
        thread = self.world.add_channel((thread_id, payload.get("name", ""), kind, parent_id))
        thread["thread_metadata"]["auto_archive_duration"] = (
            payload.get("auto_archive_duration") or 1440
        )
        thread["rate_limit_per_user"] = payload.get("rate_limit_per_user") or 0
        thread["applied_tags"] = [str(t) for t in payload.get("applied_tags") or []]
        thread["member"] = {
            "id": str(thread_id),
            "user_id": self.world.bot_user["id"],
            "flags": 0,
            "join_timestamp": iso(),
        }
        response = dict(thread)
        starter = None
        if is_forum:
            # A forum post's starter message has the thread's id.
            starter = self._bot_message(
                thread_id, payload["message"], req.files, message_id=thread_id
            )
            thread["message_count"] = thread["total_message_sent"] = 1
            response = {**thread, "message": starter}
        self.threads.append(CreatedThread(parent_id, thread_id, payload, req.files))
        if self.echo_own_messages:
            await self._emit("THREAD_CREATE", {**thread, "newly_created": True})
            if starter is not None:
                await self._emit("MESSAGE_CREATE", self.world.message_event(starter))
        return 201, response

    # application commands

    async def _get_commands(self, req: RestRequest) -> tuple[int, Any]:
        scope = self._command_scope(req)
        return 200, list(self.world.commands.get(scope, {}).values())

    async def _put_commands(self, req: RestRequest) -> tuple[int, Any]:
        scope = self._command_scope(req)
        commands = self.world.overwrite_commands(scope, req.json or [])
        self.command_syncs.append(CommandSync(scope, commands))
        return 200, commands

    def _command_scope(self, req: RestRequest) -> int | None:
        if req.params["app_id"] != str(self.world.application_id):
            raise DiscordHTTPError(403, "Missing Access", 50001)
        if "guild_id" in req.params:
            self._check_guild(req.params["guild_id"])
            return self.world.guild_id
        return None

    # interactions

    def _interaction(self, interaction_id: str) -> OpenInteraction:
        try:
            return self.world.interactions[int(interaction_id)]
        except (KeyError, ValueError):
            raise DiscordHTTPError(404, "Unknown interaction", 10062) from None

    def _interaction_by_token(self, req: RestRequest) -> OpenInteraction:
        if req.params["app_id"] != str(self.world.application_id):
            raise DiscordHTTPError(404, "Unknown Webhook", 10015)
        for interaction in self.world.interactions.values():
            if interaction.token == req.params["token"]:
                return interaction
        raise DiscordHTTPError(404, "Unknown Webhook", 10015)

    async def _interaction_callback(self, req: RestRequest) -> tuple[int, Any]:
        interaction = self._interaction(req.params["interaction_id"])
        if interaction.token != req.params["token"]:
            raise DiscordHTTPError(401, "Invalid interaction token", 50027)
        if interaction.responded:
            raise DiscordHTTPError(400, "Interaction has already been acknowledged.", 40060)
        payload = _payload(req)
        kind = int(payload["type"])
        data = payload.get("data")
        interaction.responded = True
        message = None
        if kind in (4, 5) and interaction.channel_id is not None:
            data = data or {}
            flags = int(data.get("flags") or 0)
            if kind == 5:
                flags = (flags & EPHEMERAL) | LOADING
                message = self._interaction_message(interaction, {"flags": flags}, ())
            else:
                message = self._interaction_message(interaction, data, req.files)
            interaction.original_message_id = int(message["id"])
        self.interaction_responses.append(
            InteractionResponse(
                interaction.id,
                interaction.token,
                "callback",
                kind,
                data,
                interaction.original_message_id,
                req.files,
            )
        )
        if message is not None and not message["flags"] & EPHEMERAL:
            await self._echo("MESSAGE_CREATE", message)
        if req.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        ephemeral = bool(message and message["flags"] & EPHEMERAL)
        body: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            }
        }
        if message is not None:
            body["interaction"]["response_message_id"] = message["id"]
            body["resource"] = {"type": kind, "message": message}
        return 200, body

    def _interaction_message(
        self,
        interaction: OpenInteraction,
        payload: Mapping[str, Any],
        files: Sequence[UploadedFile],
    ) -> dict[str, Any]:
        assert interaction.channel_id is not None
        metadata = {
            "id": str(interaction.id),
            "type": 2,
            "user": self.world.users.get(interaction.user_id),
            "authorizing_integration_owners": {"0": str(self.world.guild_id)},
        }
        return self._bot_message(
            interaction.channel_id,
            payload,
            files,
            kind=CHAT_INPUT_COMMAND,
            webhook_id=self.world.application_id,
            extra={
                "interaction_metadata": metadata,
                "application_id": str(self.world.application_id),
            },
        )

    async def _get_original(self, req: RestRequest) -> tuple[int, Any]:
        interaction = self._interaction_by_token(req)
        if interaction.original_message_id is None:
            raise DiscordHTTPError(404, "Unknown Message", 10008)
        return 200, self.world.message(interaction.original_message_id)

    async def _edit_original(self, req: RestRequest) -> tuple[int, Any]:
        interaction = self._interaction_by_token(req)
        if interaction.original_message_id is None:
            raise DiscordHTTPError(404, "Unknown Message", 10008)
        message = self.world.message(interaction.original_message_id)
        payload = _payload(req)
        self._apply_edit(message, payload, req.files)
        self.interaction_responses.append(
            InteractionResponse(
                interaction.id,
                interaction.token,
                "edit_original",
                None,
                payload,
                int(message["id"]),
                req.files,
            )
        )
        if not message["flags"] & EPHEMERAL:
            await self._echo("MESSAGE_UPDATE", message)
        return 200, message

    async def _delete_original(self, req: RestRequest) -> tuple[int, Any]:
        interaction = self._interaction_by_token(req)
        if interaction.original_message_id is None:
            raise DiscordHTTPError(404, "Unknown Message", 10008)
        self.world.messages.pop(interaction.original_message_id, None)
        self.interaction_responses.append(
            InteractionResponse(
                interaction.id,
                interaction.token,
                "delete",
                None,
                None,
                interaction.original_message_id,
            )
        )
        return 204, None

    async def _followup(self, req: RestRequest) -> tuple[int, Any]:
        interaction = self._interaction_by_token(req)
        if not interaction.responded:
            raise DiscordHTTPError(404, "Unknown Webhook", 10015)
        payload = _payload(req)
        message = self._interaction_message(interaction, payload, req.files)
        interaction.followups.append(int(message["id"]))
        self.interaction_responses.append(
            InteractionResponse(
                interaction.id,
                interaction.token,
                "followup",
                None,
                payload,
                int(message["id"]),
                req.files,
            )
        )
        if not message["flags"] & EPHEMERAL:
            await self._echo("MESSAGE_CREATE", message)
        if req.query.get("wait") in ("1", "true", "True"):
            return 200, message
        return 204, None

    async def _edit_followup(self, req: RestRequest) -> tuple[int, Any]:
        interaction = self._interaction_by_token(req)
        message_id = int(req.params["message_id"])
        if message_id not in interaction.followups:
            raise DiscordHTTPError(404, "Unknown Message", 10008)
        message = self.world.message(message_id)
        payload = _payload(req)
        self._apply_edit(message, payload, req.files)
        self.interaction_responses.append(
            InteractionResponse(
                interaction.id,
                interaction.token,
                "edit_followup",
                None,
                payload,
                message_id,
                req.files,
            )
        )
        return 200, message

    async def _delete_followup(self, req: RestRequest) -> tuple[int, Any]:
        interaction = self._interaction_by_token(req)
        message_id = int(req.params["message_id"])
        if message_id not in interaction.followups:
            raise DiscordHTTPError(404, "Unknown Message", 10008)
        self.world.messages.pop(message_id, None)
        self.interaction_responses.append(
            InteractionResponse(interaction.id, interaction.token, "delete", None, None, message_id)
        )
        return 204, None

    # gateway echo

    async def _echo(self, event: str, message: Mapping[str, Any]) -> None:
        """Discord sends the bot its own messages too; the app must ignore them itself."""
        if self.echo_own_messages:
            await self._emit(event, self.world.message_event(message))


# --- helpers -------------------------------------------------------------------------------------


def _template_regex(template: str) -> re.Pattern[str]:
    """ "/channels/{channel_id}/messages" -> a regex with one group per `{name}` segment."""
    regex, seen = "", set()
    for part in re.split(r"(\{[^}/]+\})", template):
        name = part[1:-1]
        if not part.startswith("{"):
            regex += re.escape(part)
        elif name.isidentifier() and name not in seen:
            seen.add(name)
            regex += f"(?P<{name}>[^/]+)"
        else:  # a repeated placeholder, as in a test's "/channels/{id}/messages/{id}"
            regex += "[^/]+"
    return re.compile(regex)


def _payload(req: RestRequest) -> dict[str, Any]:
    if req.json is None:
        return {}
    if not isinstance(req.json, dict):
        raise DiscordHTTPError(400, "Invalid Form Body", 50035)
    return req.json


async def _read_body(request: web.Request) -> tuple[Any, tuple[UploadedFile, ...]]:
    """JSON bodies as-is; multipart bodies as payload_json plus their files."""
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        payload: Any = None
        files: list[UploadedFile] = []
        while (part := await reader.next()) is not None:
            data = await part.read()  # type: ignore[union-attr]
            name = part.name or ""  # type: ignore[union-attr]
            if name == "payload_json":
                payload = json.loads(data)
            else:
                content_type = part.headers.get("Content-Type")  # type: ignore[union-attr]
                files.append(UploadedFile(name, part.filename, content_type, bytes(data)))  # type: ignore[union-attr]
        return payload, tuple(files)
    raw = await request.read()
    return (json.loads(raw) if raw else None), ()


def _headers(bucket: str | None) -> dict[str, str]:
    # discord.py treats a 429 without `Via` as a Cloudflare ban, so every answer carries it.
    headers = {"Via": "1.1 google"}
    if bucket is not None:
        headers.update(
            {
                "X-RateLimit-Bucket": hashlib.md5(bucket.encode()).hexdigest(),
                "X-RateLimit-Limit": "50",
                "X-RateLimit-Remaining": "49",
                "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
                "X-RateLimit-Reset-After": "1.000",
            }
        )
    return headers


def _json_response(status: int, payload: Any, *, bucket: str | None = None) -> web.Response:
    if status == 204 or payload is None:
        return web.Response(status=204, headers=_headers(bucket))
    return _json(payload, status, _headers(bucket))


def _json(payload: Any, status: int, headers: dict[str, str]) -> web.Response:
    # discord.py parses a body only if Content-Type is exactly "application/json" (no charset).
    body = json.dumps(payload).encode()
    return web.Response(
        body=body, status=status, headers={**headers, "Content-Type": "application/json"}
    )


def _failure_response(failure: Failure, bucket: str) -> web.Response:
    if failure.status == 429:
        body = failure.body or {
            "message": "You are being rate limited.",
            "retry_after": failure.retry_after,
            "global": failure.is_global,
        }
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, math.ceil(failure.retry_after))),
            "X-RateLimit-Scope": "global" if failure.is_global else "user",
        }
        if failure.is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(
                {
                    "X-RateLimit-Bucket": hashlib.md5(bucket.encode()).hexdigest(),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                }
            )
        return _json(body, 429, headers)
    body = failure.body or {
        "message": f"{failure.status}: {_REASONS.get(failure.status, 'Error')}",
        "code": 0,
    }
    return _json(body, failure.status, {"Via": "1.1 google"})


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
