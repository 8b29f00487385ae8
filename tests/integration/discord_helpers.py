"""This module contains helpers for the Discord end-to-end tests: the fake guild's layout, a
config for it, wirewatch running through `bot.service.run`, condition waits and an
autocomplete interaction (the fake dispatches only slash-command interactions itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from bot.bootstrap import App, Engine, build_engine
from bot.platforms.discord_adapter import DiscordPlatform
from bot.service import run
from bot.settings import Settings, parse_settings
from bot.storage.sqlite import SQLiteStore
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.discord_rest import ATTACHMENT_SIZE_LIMIT, OpenInteraction
from tests.fakes.loopback import eventually

T = TypeVar("T")

GUILD_ID = 810_000_000_000_000_042
SOURCE_ID, NEWS_ID, ROOM_ID, THREAD_ID, FORUM_ID = 3001, 3002, 3003, 3004, 3005
OTHER_ID = 3006  # a channel nobody watches
SOURCE_THREAD_ID = 3007  # a thread in the watched channel
CHANNELS = [
    (SOURCE_ID, "osint", "text"),
    (NEWS_ID, "wire", "announcement"),
    (ROOM_ID, "desk", "text"),
    (THREAD_ID, "desk-kursk", "thread", ROOM_ID),
    (FORUM_ID, "stories", "forum"),
    (OTHER_ID, "chatter", "text"),
    (SOURCE_THREAD_ID, "osint-discussion", "thread", SOURCE_ID),
]
EDITOR_ROLE = 850_000_000_000_000_001
PINGABLE_ROLE = 850_000_000_000_000_002
REPORTER_ID = 840_000_000_000_000_001  # plain member
EDITOR_ID = 840_000_000_000_000_002  # has the configured moderator role
MANAGER_ID = 840_000_000_000_000_003  # has Manage Server
MANAGE_GUILD = 1 << 5
TOKEN_ENV = "WIREWATCH_TEST_DISCORD_TOKEN"


def fake_discord(**kwargs: Any) -> FakeDiscord:
    return FakeDiscord(
        guild_id=GUILD_ID,
        channels=CHANNELS,
        roles=[(EDITOR_ROLE, "editors"), (PINGABLE_ROLE, "everyone-on-call"),
               (860_000_000_000_000_001, "managers", MANAGE_GUILD)],
        members=[(REPORTER_ID, "reporter"), (EDITOR_ID, "editor", [EDITOR_ROLE]),
                 (MANAGER_ID, "manager", [860_000_000_000_000_001])],
        **kwargs,
    )


def make_settings(fake: FakeDiscord, db_path: str, translator_url: str | None, *,
                  rooms: list[dict[str, Any]] | None = None, guild: bool = True,
                  alert_wait: float = 3.0, stories: bool = False) -> Settings:
    """Settings as a newsroom would write them, aimed at the fakes. Story grouping is off
    unless asked for: these tests post one text several times as distinct alerts."""
    default_rooms = [{
        "id": "desk", "platform": "discord", "channel": ROOM_ID, "language": "en",
        "subscriptions": [{"id": "nk-kursk", "query": "entity:north_korea AND entity:kursk"}],
    }]
    config: dict[str, Any] = {
        "storage": {"path": db_path},
        "discord": {"token_env": TOKEN_ENV, "api_base": fake.api_base, "ready_timeout": 0.05,
                    "moderator_role": "editors", **({"guild_id": GUILD_ID} if guild else {})},
        "translation": {"providers": ([{"name": "libre", "url": translator_url}]
                                      if translator_url else []),
                        "timeout": 2.0, "retries": 0, "alert_wait": alert_wait},
        "sources": [
            {"id": "osint", "platform": "discord", "channel": SOURCE_ID, "name": "OSINT desk"},
            {"id": "wire", "platform": "discord", "channel": NEWS_ID},
        ],
        "rooms": rooms if rooms is not None else default_rooms,
        "stories": {"enabled": stories, "edit_interval": 0.5},
    }
    return parse_settings(yaml.safe_dump(config, allow_unicode=True), "<test config>")




@dataclass
class Running:
    """Wirewatch as `run` started it."""

    app: App
    platform: DiscordPlatform
    task: asyncio.Task[int]

    @property
    def store(self) -> SQLiteStore:
        return self.app.store  # type: ignore[return-value]

    def sent_count(self) -> int:
        return self.store.outbox_counts().get("sent", 0)


_engines: dict[str, Engine] = {}


def shared_engine(settings: Settings) -> Engine:
    """The analysis engine for these settings, built once per test session: loading the
    watchlist and topics is most of a start-up, and every test uses the bundled ones. Each
    run's pipeline installs its own subscriptions into it when it starts."""
    key = repr((settings.entities, settings.topics, settings.languages))
    if key not in _engines:
        _engines[key] = build_engine(settings)
    return _engines[key]


@contextlib.asynccontextmanager
async def wirewatch(settings: Settings, fake: FakeDiscord) -> AsyncIterator[Running]:
    """Run `bot.service.run(settings, stop=...)` until the block ends; yields once the
    Discord client is ready (commands synced, guild cached)."""
    app = App.open(settings, engine=shared_engine(settings))
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop=stop, app=app), name="wirewatch")

    def started() -> DiscordPlatform | None:
        if task.done():
            task.result()  # raises what run() died of
            raise AssertionError("run() returned before Discord started")
        platform = app.platforms.get("discord")
        client = getattr(platform, "client", None)
        return platform if client is not None and client.is_ready() else None  # type: ignore[return-value]

    try:
        platform = await eventually(started, "the Discord client is ready", 5.0)
        await fake.wait_until_ready()
        yield Running(app, platform, task)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0


async def dispatch_autocomplete(fake: FakeDiscord, name: str, options: Mapping[str, Any],
                                focused: str, *, user_id: int | None = None,
                                channel_id: int | None = None) -> int:
    """Send INTERACTION_CREATE type 4 (autocomplete) for a synced command, as Discord does
    while someone types into option `focused`; returns the interaction id."""
    world = fake.world
    command, scope = world.find_command(name)
    schema = {o["name"]: o for o in command.get("options") or []}
    data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1, "options": [
        {"name": key, "type": schema[key]["type"], "value": value,
         **({"focused": True} if key == focused else {})}
        for key, value in options.items()
    ]}
    if scope is not None:
        data["guild_id"] = str(scope)
    user_id = user_id if user_id is not None else world.owner_id
    world.add_member(user_id)
    channel_id = channel_id if channel_id is not None else ROOM_ID
    interaction_id = world.snowflake()
    token = "fake-autocomplete-" + secrets.token_urlsafe(16)
    world.interactions[interaction_id] = OpenInteraction(interaction_id, token, channel_id, user_id)
    perms = str(world.permissions_of(user_id))
    await fake.dispatch("INTERACTION_CREATE", {
        "id": str(interaction_id), "application_id": str(fake.application_id), "type": 4,
        "data": data, "guild_id": str(GUILD_ID),
        "channel_id": str(channel_id), "channel": {**world.channel(channel_id), "permissions": perms},
        "member": {**world.member(user_id), "permissions": perms}, "token": token, "version": 1,
        "app_permissions": str(world.permissions_of(fake.bot_user_id)), "locale": "en-US",
        "guild_locale": "en-US", "entitlements": [], "authorizing_integration_owners": {},
        "context": 0, "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    })
    return interaction_id


def unescape(text: str) -> str:
    """Discord-rendered text of an escaped string: drop escaping backslashes and the
    zero-width spaces that defuse mentions."""
    out, skip = [], False
    for ch in text.replace("\u200b", ""):
        if ch == "\\" and not skip:
            skip = True
            continue
        out.append(ch)
        skip = False
    return "".join(out)
