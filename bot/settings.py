"""This module contains the validated configuration, read from one YAML file.

Secrets never live in the file: it names environment variables (`token_env`, `api_key_env`)
and the values are read from the environment when a platform starts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError
from bot.files import read_text
from bot.languages import LANGUAGES_DEFAULT, check_candidates, check_target
from bot.yamlio import YamlDoc, format_path, load_yaml, problems_error

__all__ = ["LANGUAGES_DEFAULT", "Settings", "load_settings", "parse_settings"]

_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class _Model(BaseModel):
    # strict: YAML's `chat: true` or `id: 2024` is an error at its line, never a silent 1 or "2024"
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StorageSettings(_Model):
    engine: Literal["sqlite"] = "sqlite"
    path: str = "./data/wirewatch.db"  # SQLite, the embedded default
    url: str | None = None  # postgresql://user@host/db: PostgreSQL instead (env vars expand)

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("storage.url must be a PostgreSQL URL: postgresql://user@host/db")
        return value


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
    worker: str | None = Field(None, min_length=1, max_length=100,
                               description="this process's worker name; default host:role")
    stale_after: float = Field(5.0, ge=1, le=300,
                               description="seconds without a heartbeat before a worker's claims are taken over")


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """Seconds as a number, or a string such as "90s", "30m", "24h", "1d"; anything else is
    left for pydantic to refuse with its own message."""
    if isinstance(value, str):
        found = _DURATION_RE.match(value)
        if found is None:
            raise ValueError(f"expected a duration such as 30m, 24h or 1d (got {value!r})")
        return float(found.group(1)) * _UNIT[found.group(2)]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class StorySettings(_Model):
    """Story grouping (bot.stories): one alert per story, later reports edit it in place."""

    enabled: bool = True
    window: float = Field(86400.0, gt=0, le=30 * 86400,
                          description="how long a story takes new reports: seconds or 30m/24h/1d")
    # Off by default: on the labeled set the model's joins cost precision (0.91 within a
    # language) and ~8x the replay time; near-duplicates alone join at precision ~0.98.
    semantic: bool = Field(False, description="also compare other wordings and languages with "
                           "the bundled sentence model (false: near-duplicates only)")
    edit_interval: float = Field(30.0, ge=0, le=3600,
                                 description="seconds between two edits of one alert")

    @field_validator("window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)


class LanguageSettings(_Model):
    candidates: list[str] = Field(default_factory=lambda: list(LANGUAGES_DEFAULT))
    min_confidence: float = Field(0.5, ge=0, le=1)

    @field_validator("candidates")
    @classmethod
    def _supported(cls, value: list[str]) -> list[str]:
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
    backfill: int = Field(0, ge=0, le=100)  # rss: alert the newest N items of the first poll

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
    language: str = "en"  # checked against the languages alerts can be translated into
    subscriptions: list[SubscriptionSettings] = Field(default_factory=list)

    @field_validator("language")
    @classmethod
    def _translatable(cls, value: str) -> str:
        return check_target(value)

    @model_validator(mode="after")
    def _needs_address(self) -> RoomSettings:
        need = {"telegram": "chat", "discord": "channel", "webhook": "url_env"}
        key = need.get(self.platform)
        if key and getattr(self, key) in (None, ""):
            raise ValueError(f"a {self.platform} room needs `{key}`")
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
    stories: StorySettings = StorySettings()
    entities: str | None = None  # path to an entities watchlist; default: the bundled one
    topics: str | None = None  # path to a topics file; default: the bundled one
    sources: list[SourceSettings] = Field(default_factory=list)
    rooms: list[RoomSettings] = Field(default_factory=list)
    _doc: YamlDoc | None = PrivateAttr(default=None)  # where each key was written

    @property
    def source(self) -> str:
        """The config file's name, for messages ('<config>' when built in code)."""
        return self._doc.source if self._doc else "<config>"

    def problem(self, path: tuple[Any, ...], message: str) -> str:
        """`file: rooms[0].chat (line 7): message`, for checks made after parsing."""
        if self._doc is not None:
            return self._doc.problem(path, message)
        return f"{self.source}: {format_path(path)}: {message}"


def _problem_text(err: Any) -> str:
    """Pydantic's message, said the way a YAML author reads it (with the value written)."""
    kind = err["type"]
    msg = err["msg"].removeprefix("Value error, ")
    given = err.get("input")
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {_yaml_repr(given)}" + _quote_hint(kind, given)
    if kind == "extra_forbidden":
        model = _model_at(tuple(err["loc"])[:-1])
        known = f"; expected one of: {', '.join(model.model_fields)}" if model else ""
        return f"unknown key (check its spelling and indentation){known}"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == _ID_RE:
        return ("expected an id: a letter or digit, then letters, digits, _ . or - (64 at most), "
                f"got {_yaml_repr(given)}")
    if kind == "literal_error":
        return f"{msg.replace('Input should be', 'expected', 1)}, got {_yaml_repr(given)}"
    if kind.startswith(("greater_than", "less_than")):
        return f"{msg.replace('Input should be', 'expected a number', 1)}, got {_yaml_repr(given)}"
    return msg


_TYPE_WORDS = {
    "int_type": "a whole number", "string_type": "text", "bool_type": "true or false",
    "float_type": "a number", "list_type": "a list", "model_type": "a mapping of keys",
    "dict_type": "a mapping of keys", "model_attributes_type": "a mapping of keys",
}


def _yaml_repr(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return f"{value} (a {type(value).__name__})"


def _quote_hint(kind: str, value: Any) -> str:
    # YAML reads yes/no/on/off as booleans, 2024-01-01 as a date and 0755 as a number.
    if kind == "string_type" and value is not None and not isinstance(value, (dict, list)):
        return " (put it in quotes to make it text)"
    return ""


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The settings model that validates the mapping at `loc`, to list its keys."""
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = _unwrap(info.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """`list[X]`, `X | None` -> X, for the models above."""
    for arg in (get_args(annotation) or (annotation,)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _unwrap(arg) if get_args(arg) else None
        if inner is not None:
            return inner
    return None


def _cross_problems(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Ids written twice: checked on the raw data, so they are reported with every other
    problem, at the line of the second one."""
    out: list[tuple[tuple[Any, ...], str]] = []
    if not isinstance(data, dict):
        return out

    def dupes(items: Any, path: tuple[Any, ...], kind: str) -> None:
        if not isinstance(items, list):
            return
        first: dict[Any, int] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if item["id"] in first:
                out.append(((*path, i, "id"), f"duplicate {kind} id {item['id']!r} (also "
                            f"{format_path((*path, first[item['id']]))})"))
            else:
                first[item["id"]] = i

    dupes(data.get("sources"), ("sources",), "source")
    dupes(data.get("rooms"), ("rooms",), "room")
    rooms = data.get("rooms")
    for i, room in enumerate(rooms if isinstance(rooms, list) else []):
        if isinstance(room, dict):
            dupes(room.get("subscriptions"), ("rooms", i, "subscriptions"), "subscription")
    return out


def parse_settings(text: str, source: str = "<config>") -> Settings:
    """Validate YAML text; ConfigError listing every problem, each with file, key path, line."""
    doc = load_yaml(text, source)
    raw = {} if doc.data is None else doc.data
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys (storage:, rooms:, ...)")
    problems = [(path, msg) for path, msg in _cross_problems(raw)]
    settings = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            # pydantic adds validator names (e.g. 'function-after[...]') to the location: skip them
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            problems.append((loc, _problem_text(err)))
    if problems:
        problems.sort(key=lambda p: doc.line(p[0]) or 0)
        raise problems_error([doc.problem(path, msg) for path, msg in problems])
    assert settings is not None
    settings._doc = doc
    return settings


def load_settings(path: str | Path) -> Settings:
    path = Path(path)
    text = read_text(path, "config")
    return parse_settings(text, str(path))
