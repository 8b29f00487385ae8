"""This module contains the checks of a config beyond its own shape: the watchlists and the
queries against them, the sections and environment variables rooms need, the storage path,
and rooms left in the database that nothing can serve.

`wirewatch check-config` and `wirewatch run` share these checks, so `run` refuses exactly what
`check-config --strict` reports, with the same messages. Problems of this machine's environment
(an unset token or webhook variable) are `env` problems: warnings for `check-config`, unless
`--strict`, because the file may be checked on another machine than the one it runs on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TextIO

from bot.errors import BadQuery, ConfigError
from bot.model import Room
from bot.pipeline.entities import Watchlist
from bot.pipeline.query import parse
from bot.pipeline.topics import Topics
from bot.settings import DiscordSettings, Settings, TelegramSettings, load_settings
from bot.terminal import safe
from bot.yamlio import problems_error

log = logging.getLogger(__name__)

_TOKEN_HELP = {"telegram": ("Telegram", "from @BotFather"),
               "discord": ("Discord", "Developer Portal -> Bot -> Token")}
_KEY_PROVIDERS = ("deepl", "microsoft")  # providers that cannot translate without a key


@dataclass(frozen=True)
class Problem:
    """One problem; `env` ones depend on this machine's environment variables."""

    message: str
    env: bool = False


def check_settings(settings: Settings) -> list[str]:
    """Watchlist and query problems, each with file, key path and line; [] means usable."""
    unreadable = [settings.problem((key,), f"{value} is not a readable file (paths are relative "
                                   f"to the folder wirewatch runs in, {Path.cwd()})")
                  for key, value in (("entities", settings.entities), ("topics", settings.topics))
                  if value is not None and not Path(value).is_file()]
    if unreadable:
        return unreadable
    try:
        watchlist, topics = _watchlists(settings.entities, settings.topics)
    except ConfigError as exc:
        return list(exc.problems)
    known = set(watchlist.ids)
    topic_ids = set(topics.ids)
    problems: list[str] = []
    for i, room in enumerate(settings.rooms):
        for j, sub in enumerate(room.subscriptions):
            path = ("rooms", i, "subscriptions", j, "query")
            try:
                parse(sub.query, known_entities=known)
            except BadQuery as exc:
                problems.append(settings.problem(path, str(exc)))
                continue
            missing = sorted(_topic_refs(sub.query) - topic_ids)
            if missing:
                problems.append(settings.problem(path, f"unknown topic(s) {', '.join(missing)}; "
                                                 f"known: {', '.join(sorted(topic_ids))}"))
    return problems


def check_config(settings: Settings, env: Mapping[str, str] | None = None,
                 store_rooms: Iterable[Room] | None = None) -> list[Problem]:
    """Every problem `run` would refuse to start with, in file order; `store_rooms` are the
    rooms already in the database, when there is one."""
    env = os.environ if env is None else env
    problems = [Problem(p) for p in check_settings(settings)]
    problems += [Problem(p) for p in _room_sections(settings)]
    problems += [Problem(p) for p in _storage(settings)]
    if store_rooms is not None:
        problems += [Problem(p) for p in unserved_rooms(settings, store_rooms)]
    problems += [Problem(p, env=True) for p in _environment(settings, env)]
    return list(dict.fromkeys(problems))  # a config room also in the database: said once


def require_runnable(settings: Settings, env: Mapping[str, str] | None = None) -> None:
    """What `run` calls first: ConfigError listing every problem, environment ones included."""
    problems = check_config(settings, env)
    if problems:
        raise problems_error([p.message for p in problems])


def refuse_unserved_rooms(settings: Settings, rooms: Iterable[Room]) -> None:
    """What `run` checks once the store is open: ConfigError naming every unserved room."""
    problems = unserved_rooms(settings, rooms)
    if problems:
        raise problems_error(problems)


def unserved_rooms(settings: Settings, rooms: Iterable[Room]) -> list[str]:
    """Rooms in the database on a platform the config has no section for: nothing could send
    their alerts. Each message names the room and how to remove it."""
    in_file = {r.id: i for i, r in enumerate(settings.rooms)}
    problems = []
    for room in rooms:
        kind = room.platform
        if kind not in _TOKEN_HELP or getattr(settings, kind) is not None:
            continue
        if room.id in in_file:
            problems.append(_section_missing(settings, in_file[room.id], kind))
            continue
        where = f"{kind} chat {room.chat}" + (f", thread {room.thread}" if room.thread else "")
        problems.append(
            f"{settings.source}: room {room.id!r} ({where}) is in the database "
            f"{settings.storage.path} but not in this config, and the config has no `{kind}:` "
            f"section to serve it: add a `{kind}:` section, or remove the room with "
            f"`wirewatch rooms remove {room.id} --config {settings.source}` "
            f"(`wirewatch rooms list --config {settings.source}` lists them)")
    return problems


def _section_missing(settings: Settings, index: int, kind: str) -> str:
    model = TelegramSettings if kind == "telegram" else DiscordSettings
    default = model.model_fields["token_env"].default
    return settings.problem(
        ("rooms", index, "platform"),
        f"room {settings.rooms[index].id!r} is a {kind} room, but the config has no `{kind}:` "
        f"section; add one (`{kind}: {{}}` reads the token from ${default})")


def _room_sections(settings: Settings) -> list[str]:
    return [_section_missing(settings, i, room.platform) for i, room in enumerate(settings.rooms)
            if room.platform in _TOKEN_HELP and getattr(settings, room.platform) is None]


def _storage(settings: Settings) -> list[str]:
    """The database file must be a file we can write, in a folder we can write (WAL files)."""
    raw = settings.storage.path
    if raw == ":memory:":
        return []
    path = Path(os.path.expandvars(os.path.expanduser(raw)))
    where = ("storage", "path")
    if path.is_dir():
        return [settings.problem(where, f"{raw} is a folder; name the database file inside it, "
                                 f"e.g. {Path(raw) / 'wirewatch.db'}")]
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return [settings.problem(where, f"cannot create {raw}: {folder} is a file, not a folder")]
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return [settings.problem(where, f"cannot write the database file {raw}: permission denied")]
    if not _writable(folder):
        return [settings.problem(where, f"cannot write the database {raw}: the folder {folder} "
                                 "is not writable")]
    return []


def _writable(folder: Path) -> bool:
    """Try it: os.access says yes to root on a read-only file system."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _environment(settings: Settings, env: Mapping[str, str]) -> list[str]:
    problems = []
    for kind, (name, where) in _TOKEN_HELP.items():
        section = getattr(settings, kind)
        if section is not None and not env.get(section.token_env, "").strip():
            problems.append(settings.problem((kind, "token_env"), f"{name} needs a bot token: "
                                             f"set the environment variable {section.token_env} "
                                             f"({where})"))
    for i, room in enumerate(settings.rooms):
        if room.platform != "webhook" or not room.url_env:
            continue
        url = env.get(room.url_env, "").strip()
        path = ("rooms", i, "url_env")
        if not url:
            problems.append(settings.problem(path, f"webhook room {room.id!r} needs its URL: set "
                                             f"the environment variable {room.url_env}"))
        elif not re.match(r"^https?://[^\s/]+", url):
            problems.append(settings.problem(path, f"webhook room {room.id!r}: the environment "
                                             f"variable {room.url_env} does not hold an http(s) "
                                             "URL"))
    for i, provider in enumerate(settings.translation.providers):
        path = ("translation", "providers", i)
        if provider.name not in _KEY_PROVIDERS:
            continue
        if not provider.api_key_env:
            problems.append(settings.problem(path, f"{provider.name} needs an API key: name the "
                                             "environment variable holding it in api_key_env"))
        elif not env.get(provider.api_key_env, "").strip():
            problems.append(settings.problem((*path, "api_key_env"), f"{provider.name} needs an "
                                             f"API key: set the environment variable "
                                             f"{provider.api_key_env}"))
    return problems


def _stat_key(path: str | None) -> tuple[str | None, int, int]:
    if path is None:
        return (None, 0, 0)
    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, st.st_mtime_ns, st.st_size)


def _watchlists(entities: str | None, topics: str | None) -> tuple[Watchlist, Topics]:
    """Loaded once per file version: `run` checks them, then builds the engine from them."""
    return _load_watchlists(_stat_key(entities), _stat_key(topics))


@lru_cache(maxsize=4)
def _load_watchlists(entities: tuple[str | None, int, int],
                     topics: tuple[str | None, int, int]) -> tuple[Watchlist, Topics]:
    watchlist = Watchlist.load(entities[0])
    return watchlist, Topics.load(topics[0], known_entities=set(watchlist.ids))


def _topic_refs(text: str) -> set[str]:
    return {m.lower() for m in re.findall(r"topic:([A-Za-z0-9_\-]+)", text)}


def store_rooms(settings: Settings) -> list[Room] | None:
    """The rooms of the configured database if it exists (None if not); opening it never
    creates it. ConfigError if it is not a usable database."""
    raw = settings.storage.path
    if raw == ":memory:" or not Path(os.path.expandvars(os.path.expanduser(raw))).is_file():
        return None
    from bot.storage import open_store

    store = open_store(settings.storage)
    try:
        return store.rooms()
    finally:
        with contextlib.suppress(Exception):
            store.close()


def check_config_file(path: str, *, strict: bool, out: TextIO, err: TextIO) -> int:
    """`wirewatch check-config`: print every problem; 0 if usable (environment problems are
    warnings unless `strict`), else ConfigError listing the problems (the CLI exits 2)."""
    settings = load_settings(path)
    try:
        rooms = store_rooms(settings)
        extra: list[Problem] = []
    except ConfigError as exc:  # a damaged database: `run` refuses it too, in these words
        rooms, extra = None, [Problem(str(exc))]
    return report(path, settings, extra + check_config(settings, store_rooms=rooms),
                  strict=strict, out=out, err=err)


def report(path: str, settings: Settings, problems: Sequence[Problem], *, strict: bool,
           out: TextIO, err: TextIO) -> int:
    """Print a check-config verdict; the exit code (0 usable, 2 refused)."""
    errors = [p for p in problems if not p.env or strict]
    warnings = [p for p in problems if p.env and not strict]
    for p in warnings:
        print(f"warning: {safe(p.message)}", file=err)
    if errors:
        raise problems_error([p.message for p in errors])
    subs = sum(len(r.subscriptions) for r in settings.rooms)
    note = (f"; {len(warnings)} warning(s) above: `run` refuses to start until they are fixed"
            if warnings else "")
    print(safe(f"{path}: OK ({len(settings.sources)} sources, {len(settings.rooms)} rooms, "
               f"{subs} subscriptions){note}"), file=out)
    return 0
