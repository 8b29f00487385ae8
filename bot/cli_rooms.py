"""This module contains `wirewatch rooms list|remove`: the rooms in the database, and removing
one that the config no longer names (or any other) without opening a chat.

`remove` asks nothing, refuses an id that is not a room, removes the room with its
subscriptions and keywords, keeps the alerts already sent as history, and writes the audit
log. A room still in the config file is added again, fresh, at the next start.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from bot.errors import ConfigError
from bot.model import Room
from bot.settings import Settings, load_settings
from bot.terminal import safe, safe_line

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    """Register `rooms list` and `rooms remove` on the main parser's subcommands."""
    rooms = sub.add_parser("rooms", help="list the rooms in the database, or remove one")
    what = rooms.add_subparsers(dest="rooms_command", required=True, metavar="ACTION")
    p = what.add_parser("list", help="every room in the database, and whether the config names it")
    p.add_argument("--config", required=True, help="path to the YAML config")
    p.set_defaults(func=lambda args: _run(args, list_rooms))
    p = what.add_parser("remove", help="remove a room with its subscriptions and keywords "
                        "(sent alerts stay in the history)")
    p.add_argument("id", help="the room id (see `wirewatch rooms list`)")
    p.add_argument("--config", required=True, help="path to the YAML config")
    p.set_defaults(func=lambda args: _run(args, remove_room))


def _run(args: argparse.Namespace, action: Any) -> int:
    import sys

    return int(action(load_settings(args.config), args, sys.stdout))


def _open(settings: Settings) -> Any:
    """The configured store; ConfigError if there is none yet (never creates one)."""
    from bot.storage import open_store

    raw = settings.storage.path
    if raw == ":memory:" or not Path(os.path.expandvars(os.path.expanduser(raw))).is_file():
        raise ConfigError(f"no database at {raw} yet (`wirewatch run --config "
                          f"{settings.source}` creates it): no rooms to list or remove")
    return open_store(settings.storage)


def _platform_note(settings: Settings, room: Room) -> str:
    if room.platform in ("telegram", "discord") and getattr(settings, room.platform) is None:
        return f"no `{room.platform}:` section: not served"
    return ""


def list_rooms(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """One line per room: id, platform and address, language, subscriptions, keywords, and
    whether the config file names it."""
    store = _open(settings)
    try:
        rooms = store.rooms()
        subs = Counter(s.room_id for s in store.subscriptions())
        words = Counter(k.room_id for k in store.keywords())
    finally:
        store.close()
    if not rooms:
        print(f"no rooms in {settings.storage.path}", file=out)
        return 0
    in_file = {r.id for r in settings.rooms}
    rows = [("ROOM", "PLATFORM", "ADDRESS", "LANG", "SUBS", "KEYWORDS", "CONFIG")]
    for room in rooms:
        address = room.chat + (f"/{room.thread}" if room.thread else "")
        state = "in file" if room.id in in_file else "not in file"
        note = _platform_note(settings, room)
        rows.append(tuple(safe_line(cell) for cell in (
            room.id, room.platform, address, room.language, subs.get(room.id, 0),
            words.get(room.id, 0), f"{state}; {note}" if note else state)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(),
              file=out)  # cells are safe_line()d: ids and addresses may come from chats
    return 0


def remove_room(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    store = _open(settings)
    try:
        room = store.get_room(args.id)
        if room is None:
            known = ", ".join(r.id for r in store.rooms()) or "none"
            raise ConfigError(f"no room {args.id!r} in {settings.storage.path} (rooms: {known}); "
                              f"nothing removed")
        subs = [s.id for s in store.subscriptions(room.id)]
        words = [k.keyword for k in store.keywords(room.id)]
        with store.transaction():
            store.remove_room(room.id)
            store.audit("cli", "room_remove", room.id, platform=room.platform, chat=room.chat,
                        thread=room.thread, subscriptions=subs, keywords=words)
    finally:
        store.close()
    log.info("room %s removed from the command line", room.id)
    print(safe(f"removed room {room.id} ({room.platform} {room.chat}) with {len(subs)} "
               f"subscription(s) and {len(words)} keyword(s); its sent alerts stay in the "
               "history"), file=out)
    if any(r.id == room.id for r in settings.rooms):
        print(safe(f"note: {settings.source} still names room {room.id}: the next start adds "
                   "it again, with the file's subscriptions"), file=out)
    return 0

