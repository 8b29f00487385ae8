"""This module contains `open_store`: the one way every entry point opens the configured store.

`bootstrap.App.open`, `demo`, `replay` and `search` all call it with `settings.storage`, so a
second engine is one more branch here: a `storage.url` (or a `postgresql://` string) opens
PostgreSQL (`bot.storage.postgres`), anything else the SQLite file at `storage.path`. The path ':memory:' (or `in_memory=True`) gives a
throwaway store for runs that must leave nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.ports import Store
    from bot.settings import StorageSettings

MEMORY = ":memory:"


def open_store(storage: StorageSettings | str | Path, *, in_memory: bool = False) -> Store:
    """Open (creating and migrating as needed) the store `storage` names.

    `storage` is the config's `storage:` section, or for tools and tests just a path (SQLite).
    '~' and environment variables in the path are expanded."""
    if isinstance(storage, str | Path):
        engine, path = "sqlite", str(storage)
        if is_postgres_url(path):
            engine = "postgres"
    else:
        engine, path = storage.engine, storage.path
        if storage.url:
            engine, path = "postgres", storage.url
    if engine == "postgres" and not in_memory:
        from bot.storage.postgres import PostgresStore  # late: psycopg loads only when chosen

        return PostgresStore(os.path.expandvars(path))
    if engine != "sqlite":
        raise ConfigError(f"storage.engine {engine!r} is not supported: expected sqlite, or "
                          "storage.url for PostgreSQL")
    from bot.storage.sqlite import SQLiteStore  # late: the engine loads only when chosen

    if in_memory or path == MEMORY:
        return SQLiteStore(MEMORY)
    return SQLiteStore(os.path.expandvars(os.path.expanduser(path)))


def is_postgres_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))
