"""This module contains the versioned schema migrations shared by every storage engine.

Migrations are numbered SQL files in `migrations/`; each runs once, in order, in a transaction,
and the applied version is recorded in `schema_version`.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """Return (version, name, sql) for every bundled migration, in order."""
    found = []
    for entry in resources.files("bot.storage").joinpath("migrations").iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version() -> int:
    return max(v for v, _, _ in migrations())
