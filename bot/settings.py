"""This module contains the validated configuration, read from one YAML file.

Secrets never live in the file: it names environment variables (`token_env`, `api_key_env`)
and the values are read from the environment when a platform starts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import ConfigError
from bot.files import read_text

_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
LANGUAGES_DEFAULT = ("ru", "uk", "be", "bg", "en", "de", "fr", "pl", "ko")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Model):
    engine: Literal["sqlite"] = "sqlite"
    path: str = "./data/wirewatch.db"


class TelegramSettings(_Model):
    token_env: str = "TELEGRAM_BOT_TOKEN"
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    moderators: list[int] = Field(default_factory=list)  # operator user ids (see README)
    admin_cache_seconds: float = 120.0


class DiscordSettings(_Model):
    token_env: str = "DISCORD_BOT_TOKEN"
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str | None = None  # test/debug: a local fake gateway
    guild_id: int | None = None  # sync slash commands to this guild (instant) instead of globally
    moderator_role: str | None = None
    moderators: list[int] = Field(default_factory=list)  # user ids who are operators
    ready_timeout: float = Field(2.0, gt=0, le=60)  # discord.py's guild_ready_timeout; tests lower it


class TranslationProvider(_Model):
    name: Literal["libre", "google", "deepl", "microsoft", "mymemory"]
    url: str | None = None  # libre: the LibreTranslate server
    api_key_env: str | None = None  # name of the environment variable holding the key
    region: str | None = None  # microsoft
    use_free_api: bool = True  # deepl
    email: str | None = None  # mymemory

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class TranslationSettings(_Model):
    providers: list[TranslationProvider] = Field(default_factory=list)
    timeout: float = Field(4.0, gt=0, description="hard timeout of one provider call, seconds")
    alert_wait: float = Field(5.0, ge=0, le=30, description="how long an alert waits for its translation")
    concurrency: int = Field(4, ge=1, le=64)
    retries: int = Field(2, ge=0, le=10)
    breaker_failures: int = Field(3, ge=1)
    breaker_cooldown: float = Field(60.0, gt=0)


class DeliverySettings(_Model):
    lease: float = Field(60.0, ge=1, le=3600, description="seconds a worker holds an alert it sends")
    max_attempts: int = Field(10, ge=1, le=100)


class LanguageSettings(_Model):
    candidates: list[str] = Field(default_factory=lambda: list(LANGUAGES_DEFAULT))
    min_confidence: float = Field(0.5, ge=0, le=1)

    @field_validator("candidates")
    @classmethod
    def _supported(cls, value: list[str]) -> list[str]:
        from bot.pipeline.language import check_candidates  # late: language imports settings

        return list(check_candidates(value))  # unknown codes: a ValueError at this key


class SourceSettings(_Model):
    id: str = Field(pattern=_ID_RE)
    platform: Literal["telegram", "discord", "telegram_public", "rss"]
    chat: int | None = None  # telegram chat id
    channel: int | None = None  # discord channel id
    username: str | None = None  # telegram_public: t.me/s/<username>
    url: str | None = None  # rss feed; for telegram_public, a preview base other than https://t.me/s/ (tests)
    interval: float = Field(60.0, ge=5)
    name: str | None = None

    @model_validator(mode="after")
    def _needs_address(self) -> SourceSettings:
        need = {"telegram": "chat", "discord": "channel", "telegram_public": "username", "rss": "url"}
        key = need[self.platform]
        if getattr(self, key) in (None, ""):
            raise ValueError(f"a {self.platform} source needs `{key}`")
        return self


class SubscriptionSettings(_Model):
    id: str = Field(pattern=_ID_RE)
    query: str

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        from bot.pipeline.query import parse  # late: settings must load without the pipeline

        parse(value)  # BadQuery is a ValueError: pydantic reports it at this key
        return value


class RoomSettings(_Model):
    id: str = Field(pattern=_ID_RE)
    platform: Literal["telegram", "discord", "console", "webhook"]
    chat: int | None = None
    channel: int | None = None
    thread: int | None = None
    url_env: str | None = None  # webhook: env var holding the URL
    language: str = Field("en", pattern=r"^[a-z]{2,3}$")
    subscriptions: list[SubscriptionSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needs_address(self) -> RoomSettings:
        need = {"telegram": "chat", "discord": "channel", "webhook": "url_env"}
        key = need.get(self.platform)
        if key and getattr(self, key) in (None, ""):
            raise ValueError(f"a {self.platform} room needs `{key}`")
        ids = [s.id for s in self.subscriptions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate subscription ids: {', '.join(dupes)}")
        return self

    @property
    def address(self) -> str:
        return str(self.chat if self.platform == "telegram" else self.channel or self.url_env or self.id)


class Settings(_Model):
    storage: StorageSettings = StorageSettings()
    telegram: TelegramSettings | None = None
    discord: DiscordSettings | None = None
    translation: TranslationSettings = TranslationSettings()
    languages: LanguageSettings = LanguageSettings()
    delivery: DeliverySettings = DeliverySettings()
    entities: str | None = None  # path to an entities watchlist; default: the bundled one
    topics: str | None = None  # path to a topics file; default: the bundled one
    sources: list[SourceSettings] = Field(default_factory=list)
    rooms: list[RoomSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Settings:
        for kind, items in (("source", self.sources), ("room", self.rooms)):
            ids = [i.id for i in items]
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} ids: {', '.join(dupes)}")
        return self


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {}
    for key_node, _ in node.value:
        lines[key_node.value] = key_node.start_mark.line + 1
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip_lines(v) for k, v in data.items() if k not in ("__lines__", "__line__")}
    if isinstance(data, list):
        return [_strip_lines(v) for v in data]
    return data


def _line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    line = None
    node = data
    for part in loc:
        if isinstance(node, dict):
            line = node.get("__lines__", {}).get(part, line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__line__", line)
        else:
            break
    return line


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(r"^[A-Za-z_][\w-]*$", str(part)):
            out += ("." if out else "") + str(part)
        # pydantic adds validator names (e.g. 'function-after[...]') for unions: skip them
    return out or "(top level)"


def parse_settings(text: str, source: str = "<config>") -> Settings:
    """Validate YAML text; raise ConfigError listing every problem with key path and line."""
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys (storage:, rooms:, ...)")
    try:
        return Settings.model_validate(_strip_lines(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            line = _line_of(raw, loc)
            where = f" (line {line})" if line else ""
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{_format_loc(loc)}{where}: {msg}")
        raise ConfigError(f"{source}: {len(problems)} problem(s)", problems) from None


def load_settings(path: str | Path) -> Settings:
    path = Path(path)
    text = read_text(path, "config")
    return parse_settings(text, str(path))
