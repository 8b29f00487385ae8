"""This module contains the story tables of the SQLite store (migration 0006), as a mixin.

A story row sums up its posts (first/last seen, sources, languages, entities); `story_posts`
links each grouped post to its story (with its embedding when grouping made one, so a
restart re-feeds the grouper without the model); `story_rooms` records which post of a story
alerted each room, so later reports update that alert instead of alerting again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.codec import parse_date
from bot.model import SourceRef
from bot.ports import StoryLink, StoryRecord, StoryRoom


class _Engine(Protocol):
    def _exec(self, sql: str, args: Sequence[Any] = ()) -> Any: ...
    def transaction(self) -> AbstractContextManager[None]: ...


def _iso(date: datetime) -> str:
    return date.astimezone(UTC).isoformat()


def _add_word(words: str, word: str | None) -> str:
    if not word:
        return words
    items = words.split()
    return words if word in items else " ".join([*items, word])


def _link(row: Any) -> StoryLink:
    return StoryLink(row["post_key"], row["story_id"], parse_date(row["date"]), row["source_id"],
                     row["lang"], tuple(row["entities"].split()), row["vector"])


class StoryTables:
    """The Store's story methods over SQLite; mixed into `SQLiteStore`."""

    def link_story(self: _Engine, link: StoryLink) -> bool:
        with self.transaction():
            if self._exec("SELECT 1 FROM story_posts WHERE post_key=?",
                          (link.post_key,)).fetchone():
                return False
            row = self._exec("SELECT * FROM stories WHERE id=?", (link.story_id,)).fetchone()
            if row is None:
                self._exec(
                    "INSERT INTO stories(id, first_seen, last_seen, posts, sources, languages, "
                    "entities) VALUES (?,?,?,1,?,?,?)",
                    (link.story_id, _iso(link.date), _iso(link.date), link.source_id,
                     link.lang or "", " ".join(dict.fromkeys(link.entities))))
            else:
                entities = row["entities"]
                for entity in link.entities:
                    entities = _add_word(entities, entity)
                self._exec(
                    "UPDATE stories SET first_seen=MIN(first_seen, ?), last_seen=MAX(last_seen, ?), "
                    "posts=posts+1, sources=?, languages=?, entities=? WHERE id=?",
                    (_iso(link.date), _iso(link.date), _add_word(row["sources"], link.source_id),
                     _add_word(row["languages"], link.lang), entities, link.story_id))
            self._exec(
                "INSERT INTO story_posts(post_key, story_id, date, source_id, lang, entities, "
                "vector) VALUES (?,?,?,?,?,?,?)",
                (link.post_key, link.story_id, _iso(link.date), link.source_id, link.lang,
                 " ".join(link.entities), link.vector))
        return True

    def set_story_vector(self: _Engine, post_key: str, vector: bytes) -> None:
        self._exec("UPDATE story_posts SET vector=? WHERE post_key=?", (vector, post_key))

    def get_story(self: _Engine, story_id: str) -> StoryRecord | None:
        row = self._exec("SELECT * FROM stories WHERE id=?", (story_id,)).fetchone()
        if row is None:
            return None
        return StoryRecord(row["id"], parse_date(row["first_seen"]), parse_date(row["last_seen"]),
                           row["posts"], tuple(row["sources"].split()),
                           tuple(row["languages"].split()), tuple(row["entities"].split()))

    def story_links(self: _Engine, story_id: str) -> list[StoryLink]:
        rows = self._exec("SELECT * FROM story_posts WHERE story_id=? ORDER BY date, post_key",
                          (story_id,)).fetchall()
        return [_link(r) for r in rows]

    def story_of_post(self: _Engine, post_key: str) -> str | None:
        row = self._exec("SELECT story_id FROM story_posts WHERE post_key=?", (post_key,)).fetchone()
        return row[0] if row else None

    def grouped_since(self: _Engine, since: datetime,
                      limit: int = 100_000) -> list[tuple[StoryLink, str]]:
        """The grouped posts dated `since` or later with their texts, oldest first: what a
        restarted grouper is fed again."""
        rows = self._exec(
            "SELECT s.*, p.text FROM story_posts s JOIN posts p ON p.key = s.post_key "
            "WHERE s.date >= ? ORDER BY s.date, s.post_key LIMIT ?", (_iso(since), limit)).fetchall()
        return [(_link(r), r["text"]) for r in rows]

    def story_room(self: _Engine, story_id: str, room_id: str) -> StoryRoom | None:
        row = self._exec("SELECT * FROM story_rooms WHERE story_id=? AND room_id=?",
                         (story_id, room_id)).fetchone()
        if row is None:
            return None
        return StoryRoom(row["story_id"], row["room_id"], row["post_key"], row["alert_id"])

    def claim_story_room(self: _Engine, room: StoryRoom) -> bool:
        # A story replayed without delivery (no alert) is taken over by the first real alert.
        cur = self._exec(
            "INSERT INTO story_rooms(story_id, room_id, post_key, alert_id) VALUES (?,?,?,?) "
            "ON CONFLICT(story_id, room_id) DO UPDATE SET post_key=excluded.post_key, "
            "alert_id=excluded.alert_id WHERE story_rooms.alert_id IS NULL "
            "AND excluded.alert_id IS NOT NULL",
            (room.story_id, room.room_id, room.post_key, room.alert_id))
        return cur.rowcount == 1

    def add_alert_source(self: _Engine, alert_id: int, ref: SourceRef, delay: float = 0.0) -> bool:
        with self.transaction():
            row = self._exec(
                "SELECT a.payload, o.state FROM alerts a JOIN outbox o ON o.alert_id=a.id "
                "WHERE a.id=?", (alert_id,)).fetchone()
            if row is None:
                return False
            payload = json.loads(row["payload"])
            also = payload.get("also") or []
            if any(a.get("post_key") == ref.post_key for a in also) and ref.post_key:
                return False  # the same report again: nothing to add, nothing to edit
            also.append(asdict(ref))
            payload["also"] = also
            payload["extra_sources"] = len(also)
            self._exec("UPDATE alerts SET payload=? WHERE id=?",
                       (json.dumps(payload, ensure_ascii=False), alert_id))
            if row["state"] in ("sending", "sent"):
                # Coalesced: the first change since the last edit sets the time; later ones
                # within it ride along, so a burst of copies costs one edit.
                self._exec(
                    "UPDATE outbox SET update_after=CASE WHEN needs_update=1 THEN update_after "
                    "ELSE ? END, needs_update=1 WHERE alert_id=?", (time.time() + delay, alert_id))
        return True
