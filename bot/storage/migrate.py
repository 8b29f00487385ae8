"""This module contains the versioned schema migrations and the runner shared by every engine.

There is one numbered history. Version N is the file `migrations/NNNN_name.sql` (SQL every
engine runs as written) and, where an engine's SQL differs, `migrations/<dialect>/NNNN_name.sql`
run right after it in the same transaction (SQLite's FTS5 index lives in `migrations/sqlite/`).
A dialect file with the *same name* as the common one replaces it instead, for an engine whose
SQL cannot run the common text (PostgreSQL's `0001_initial.sql`: identity columns, no
`INTEGER PRIMARY KEY`); the version and its name stay the same. Either file may be missing. Each version runs once, in order, in one transaction,
and is recorded by the engine (`schema_version` for SQLite).

An engine takes part through four small methods (`MigrationTarget`); the loop is here.
"""

from __future__ import annotations

import logging
import re
from contextlib import AbstractContextManager
from importlib import resources
from importlib.abc import Traversable
from typing import NamedTuple, Protocol

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Migration(NamedTuple):
    version: int
    name: str  # the file names, joined by ' + '
    sql: str  # every statement of this version for one dialect, common part first


class MigrationTarget(Protocol):
    """What the runner needs of an engine."""

    dialect: str  # the folder of its engine-specific files, e.g. "sqlite"

    def current_version(self) -> int: ...  # 0 for a new database
    def transaction(self) -> AbstractContextManager[None]: ...  # holds the write lock
    def execute_script(self, sql: str) -> None: ...  # every statement, in the open transaction
    def record_version(self, version: int) -> None: ...


def _files(folder: Traversable) -> dict[int, tuple[str, str]]:
    found: dict[int, tuple[str, str]] = {}
    if not folder.is_dir():
        return found
    for entry in folder.iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            version = int(match.group(1))
            if version in found:
                raise RuntimeError(f"two migrations numbered {version}: {found[version][0]}, "
                                   f"{entry.name}")
            found[version] = (entry.name, entry.read_text(encoding="utf-8"))
    return found


def migrations(dialect: str = "sqlite") -> list[Migration]:
    """Every bundled migration for `dialect`, in order."""
    root = resources.files("bot.storage").joinpath("migrations")
    common, specific = _files(root), _files(root.joinpath(dialect))
    out = []
    for version in sorted(common.keys() | specific.keys()):
        parts = [p for p in (common.get(version), specific.get(version)) if p]
        if len(parts) == 2 and parts[0][0] == parts[1][0]:
            parts = parts[1:]  # the dialect's own version of the common file
        out.append(Migration(version, " + ".join(name for name, _ in parts),
                             "\n".join(sql for _, sql in parts)))
    return out


def latest_version(dialect: str = "sqlite") -> int:
    return max(m.version for m in migrations(dialect))


def run_migrations(target: MigrationTarget, *, upto: int | None = None) -> int:
    """Bring the target's schema to the newest version (or to `upto`); returns the version.

    Several processes may open one database at once: each version is re-checked under the
    write lock, so the one that waited finds it applied and moves on."""
    for migration in migrations(target.dialect):
        if upto is not None and migration.version > upto:
            break
        if migration.version <= target.current_version():
            continue
        with target.transaction():
            if target.current_version() >= migration.version:
                continue  # another process applied it while we waited for the lock
            log.info("applying migration %s", migration.name)
            target.execute_script(migration.sql)
            target.record_version(migration.version)
    return target.current_version()
