"""This module contains the SQLite store, the embedded default engine.

One connection in WAL mode, guarded by a lock because the translator's worker threads write
the translation cache. Several processes may open the same file: claims on the outbox are
single UPDATE statements, so two workers never send the same alert.

Every statement goes through `_run`: a fault of the file or the disk (full, locked longer
than `timeout`, I/O, damaged) becomes a StorageError, and inside a transaction it rolls the
whole transaction back and dooms it, so nothing of a failed batch is ever committed. Search
narrows candidates with FTS5 (`fts.py`) and plain SQL (`sqlfilter.py`); the migrations are
run by the engine-neutral `migrate.run_migrations` through four small methods here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.codec import alert_from_json, alert_to_json, parse_date
from bot.errors import ConfigError, StorageError
from bot.model import Alert, Analysis, Mention, Post, Room, Subscription, utcnow
from bot.pipeline.query import Node, Query
from bot.ports import (
    AuditEntry,
    Keyword,
    OutboxItem,
    SaveResult,
    SourceRecord,
    StoredPost,
    WorkerRecord,
)
from bot.storage.faults import storage_fault
from bot.storage.fts import fts_node, fts_prefilter
from bot.storage.migrate import run_migrations
from bot.storage.sqlfilter import field_filter
from bot.storage.stories import StoryTables
from bot.text import fold

log = logging.getLogger(__name__)

_POST_COLS = (
    "id, key, source_id, platform, chat, message_id, author, url, origin, date, text, edited, "
    "lang, lang_confidence, entities, topics"
)


def search_text(text: str) -> str:
    """What the FTS index sees: our folded words, so search folds like matching does."""
    return " ".join(fold(text).words())


_MATCH = "id IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)"


def _match_words(node: Node) -> tuple[str, list[Any]] | None:
    expression = fts_node(node)
    return None if expression is None else (_MATCH, [expression])


def _now() -> str:
    return utcnow().isoformat()


def _row_to_post(row: sqlite3.Row) -> StoredPost:
    post = Post(
        source_id=row["source_id"], platform=row["platform"], chat=row["chat"],
        message_id=row["message_id"], text=row["text"], date=parse_date(row["date"]),
        author=row["author"], url=row["url"], edited=bool(row["edited"]), origin=row["origin"],
    )
    return StoredPost(
        id=row["id"], post=post, lang=row["lang"], lang_confidence=row["lang_confidence"],
        entities=tuple(row["entities"].split()), topics=tuple(row["topics"].split()),
    )


class _Result:
    """A statement's outcome with its rows already read, so a fault while stepping through
    them surfaces inside `_exec` (as a StorageError) and not later in a caller's loop."""

    __slots__ = ("_rows", "rowcount", "lastrowid")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._rows = cursor.fetchall()
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class SQLiteStore(StoryTables):
    """The Store protocol on one SQLite file (or ':memory:' for throwaway runs).

    `timeout` is how long a write waits for another process's lock before it fails with a
    StorageError; `schema` stops the migrations at that version (tests of upgrades)."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, timeout: float = 30.0, schema: int | None = None) -> None:
        self.path = str(path)
        self.timeout = timeout
        if self.path != ":memory:":
            parent = Path(self.path).expanduser().resolve().parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create the storage folder {parent}: {exc.strerror}") from None
        try:
            self._db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the database {self.path}: {exc}") from None
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        self._doomed: StorageError | None = None  # why the open transaction was rolled back
        self._fts_refused: set[str] = set()
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            run_migrations(self, upto=schema)
        except (sqlite3.Error, StorageError) as exc:
            self._db.close()
            fault = exc if isinstance(exc, StorageError) else storage_fault(exc, self.path, timeout)
            if fault is not None and fault.transient:
                raise fault from None
            raise ConfigError(f"{self.path} is not a usable wirewatch database: {exc}") from None

    # -- plumbing -------------------------------------------------------------------------

    def current_version(self) -> int:
        """The newest migration applied (0 for a new file); the migration runner's view."""
        row = self._exec("SELECT MAX(version) FROM schema_version").fetchone()
        return row[0] or 0

    def schema_version(self) -> int:
        return self.current_version()

    def execute_script(self, sql: str) -> None:
        """Run a migration file's statements, inside the caller's transaction."""
        for statement in _split_sql(sql):
            self._exec(statement)

    def record_version(self, version: int) -> None:
        self._exec("INSERT INTO schema_version VALUES (?)", (version,))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes; nested use joins the outer transaction.

        When a storage fault ends the transaction (SQLite may roll it back by itself on a
        full disk or an I/O error), everything it held is rolled back, every later statement
        of it raises the same StorageError, and it never commits: a caller that swallows the
        first error cannot have the rest of its batch committed statement by statement."""
        with self._lock:
            if self._depth == 0:
                self._doomed = None
                self._begin()
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._finish("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                doomed, self._doomed = self._doomed, None
                if doomed is not None:
                    self._finish("ROLLBACK")  # a no-op where the engine ended it already
                    raise StorageError(str(doomed), transient=doomed.transient)
                self._finish("COMMIT")

    def _begin(self) -> None:
        """Open the outer transaction; IMMEDIATE takes the write lock now, not at first write."""
        self._run("BEGIN IMMEDIATE")

    def _finish(self, verb: str) -> None:
        """COMMIT or ROLLBACK the outer transaction, if SQLite has not ended it already."""
        self._doomed = None
        if not self._db.in_transaction:
            return  # SQLite rolled it back itself: there is nothing left to end
        try:
            self._db.execute(verb)
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    log.warning("could not roll back after a failed %s", verb, exc_info=True)
            if verb == "ROLLBACK":
                log.warning("rollback failed: %s", exc)
                return
            fault = storage_fault(exc, self.path, self.timeout)
            raise (fault or StorageError(f"could not commit to {self.path}: {exc}")) from exc

    def _run(self, sql: str, args: Sequence[Any] = (), many: bool = False) -> _Result:
        with self._lock:
            if self._depth and self._doomed is not None:
                raise StorageError(str(self._doomed), transient=self._doomed.transient)
            try:
                if many:
                    return _Result(self._db.executemany(sql, args))
                return _Result(self._db.execute(sql, args))
            except sqlite3.Error as exc:
                fault = storage_fault(exc, self.path, self.timeout)
                if self._depth and (fault is not None or not self._db.in_transaction):
                    # The transaction is over (or must be): roll back all of it, and remember.
                    if self._db.in_transaction:
                        try:
                            self._db.execute("ROLLBACK")
                        except sqlite3.Error:
                            log.warning("rollback after a storage fault failed", exc_info=True)
                    self._doomed = fault or StorageError(
                        f"the transaction on {self.path} was rolled back: {exc}")
                    log.error("storage fault, transaction rolled back: %s", self._doomed)
                if fault is None:
                    raise
                raise fault from exc

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> _Result:
        return self._run(sql, args)

    def _execmany(self, sql: str, rows: Sequence[Sequence[Any]]) -> _Result:
        return self._run(sql, rows, many=True)

    def _bump(self) -> None:
        self._exec(
            "INSERT INTO meta(key, value) VALUES('revision', 1) "
            "ON CONFLICT(key) DO UPDATE SET value = value + 1"
        )

    def revision(self) -> int:
        row = self._exec("SELECT value FROM meta WHERE key='revision'").fetchone()
        return row[0] if row else 0

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass
            self._db.close()

    # -- posts ----------------------------------------------------------------------------

    def save_post(self, post: Post, analysis: Analysis) -> SaveResult:
        now = _now()
        entities = " ".join(analysis.matched_ids)  # implied ids too: entity:russia finds MoD posts
        topics = " ".join(analysis.topics)
        with self.transaction():
            row = self._exec("SELECT id, text FROM posts WHERE key=?", (post.key,)).fetchone()
            if row is None:
                cur = self._exec(
                    "INSERT INTO posts(key, source_id, platform, chat, message_id, author, url, "
                    "origin, date, text, search_text, edited, lang, lang_confidence, entities, "
                    "topics, first_seen, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (post.key, post.source_id, post.platform, post.chat, post.message_id,
                     post.author, post.url, post.origin, post.date.astimezone(UTC).isoformat(),
                     post.text,
                     search_text(post.text), int(post.edited), analysis.lang, analysis.lang_confidence
                     if analysis.lang else None, entities, topics, now, now),
                )
                post_id = cur.lastrowid
                new, changed = True, True
            else:
                post_id = row["id"]
                new, changed = False, row["text"] != post.text
                if changed:
                    self._exec(
                        "UPDATE posts SET text=?, search_text=?, edited=1, entities=?, topics=?, "
                        "lang=?, lang_confidence=?, updated=? WHERE id=?",
                        (post.text, search_text(post.text), entities, topics, analysis.lang,
                         analysis.lang_confidence if analysis.lang else None, now, post_id),
                    )
                    self._exec("DELETE FROM mentions WHERE post_id=?", (post_id,))
            if changed and analysis.mentions:
                self._execmany(
                    'INSERT INTO mentions(post_id, entity_id, surface, start, "end") '
                    "VALUES (?,?,?,?,?)",
                    [(post_id, m.entity_id, m.surface, m.start, m.end) for m in analysis.mentions],
                )
        return SaveResult(post_id=post_id, new=new, changed=changed)

    def set_post_language(self, post_id: int, lang: str, confidence: float) -> None:
        self._exec("UPDATE posts SET lang=?, lang_confidence=? WHERE id=?", (lang, confidence, post_id))

    def get_post(self, key: str) -> StoredPost | None:
        row = self._exec(f"SELECT {_POST_COLS} FROM posts WHERE key=?", (key,)).fetchone()
        return _row_to_post(row) if row else None

    def post_mentions(self, post_id: int) -> list[Mention]:
        rows = self._exec('SELECT entity_id, surface, start, "end" FROM mentions WHERE post_id=? '
                          'ORDER BY start, "end", entity_id', (post_id,)).fetchall()
        return [Mention(r[0], r[1], r[2], r[3]) for r in rows]

    def recent_posts(self, *, since: datetime | None = None, limit: int = 200,
                     before_id: int | None = None) -> list[StoredPost]:
        return self.search_posts(None, since=since, limit=limit, before_id=before_id)

    def search_posts(self, query: Query | None, *, since: datetime | None = None,
                     limit: int = 200, before_id: int | None = None) -> list[StoredPost]:
        """Newest stored first: every post `query` may accept (all posts for None).

        The candidates are a superset of the hits, narrowed by FTS5 for the words and by
        plain SQL for entity, topic, source and a stored language; the caller evaluates the
        query exactly (`handlers.finder`). Page with `before_id`, the smallest id seen."""
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("date >= ?")
            args.append(since.astimezone(UTC).isoformat())
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        if query is None:
            return self._select_posts(where, args, limit)
        key = str(query)
        if key not in self._fts_refused:
            fts = fts_prefilter(query)
            # The whole query as one MATCH when it has one; otherwise the fields in SQL with
            # a MATCH per group of words, so that `kursk OR lang:uk` is narrowed as well.
            index = [(_MATCH, [fts])] if fts is not None else []
            fields = field_filter(query, words=None if fts is not None else _match_words)
            conds = index + ([fields] if fields is not None else [])
            try:
                return self._select_posts([*where, *(c for c, _ in conds)],
                                          [*args, *(a for _, cargs in conds for a in cargs)], limit)
            except sqlite3.OperationalError as exc:
                # FTS5 refuses some expressions our parser accepts; the index is only an
                # optimisation, so scan instead (the exact evaluation still decides).
                log.warning("FTS refused the prefilter of %s (%s); scanning instead", query, exc)
                self._fts_refused.add(key)
        fields = field_filter(query)
        if fields is not None:
            where.append(fields[0])
            args = [*args, *fields[1]]
        return self._select_posts(where, args, limit)

    def _select_posts(self, where: list[str], args: list[Any], limit: int) -> list[StoredPost]:
        sql = f"SELECT {_POST_COLS} FROM posts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        return [_row_to_post(r) for r in self._exec(sql, [*args, limit]).fetchall()]

    def count_posts(self) -> int:
        return self._exec("SELECT COUNT(*) FROM posts").fetchone()[0]

    # -- translation cache ----------------------------------------------------------------

    def get_translation(self, key: str, source: str, target: str) -> str | None:
        row = self._exec(
            "SELECT text FROM translations WHERE text_key=? AND source=? AND target=?",
            (key, source, target),
        ).fetchone()
        return row[0] if row else None

    def put_translation(self, key: str, source: str, target: str, text: str, provider: str) -> None:
        self._exec(
            "INSERT OR REPLACE INTO translations VALUES (?,?,?,?,?,?)",
            (key, source, target, text, provider, _now()),
        )

    # -- rooms, subscriptions, keywords, sources --------------------------------------------

    def seed_once(self, kind: str, key: str) -> bool:
        cur = self._exec("INSERT OR IGNORE INTO seeded(kind, key) VALUES (?,?)", (kind, key))
        return cur.rowcount == 1

    def upsert_room(self, room: Room, *, keep_language: bool = True) -> Room:
        now = _now()
        with self.transaction():
            existing = self.get_room(room.id)
            language = existing.language if (existing and keep_language) else room.language
            self._exec(
                "INSERT INTO rooms(id, platform, chat, thread, language, created, updated) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET platform=excluded.platform, "
                "chat=excluded.chat, thread=excluded.thread, language=?, updated=excluded.updated",
                (room.id, room.platform, room.chat, room.thread, language, now, now, language),
            )
            self._bump()
        return Room(room.id, room.platform, room.chat, room.thread, language)

    @staticmethod
    def _room(row: sqlite3.Row) -> Room:
        return Room(row["id"], row["platform"], row["chat"], row["thread"], row["language"])

    def get_room(self, room_id: str) -> Room | None:
        row = self._exec("SELECT * FROM rooms WHERE id=?", (room_id,)).fetchone()
        return self._room(row) if row else None

    def find_room(self, platform: str, chat: str, thread: str | None = None) -> Room | None:
        row = self._exec(
            "SELECT * FROM rooms WHERE platform=? AND chat=? AND COALESCE(thread,'')=?",
            (platform, str(chat), thread or ""),
        ).fetchone()
        return self._room(row) if row else None

    def rooms(self) -> list[Room]:
        return [self._room(r) for r in self._exec("SELECT * FROM rooms ORDER BY id").fetchall()]

    def set_room_language(self, room_id: str, language: str) -> None:
        with self.transaction():
            self._exec("UPDATE rooms SET language=?, updated=? WHERE id=?", (language, _now(), room_id))
            self._bump()

    def add_subscription(self, sub: Subscription, *, replace: bool = True) -> bool:
        """Store a subscription; with replace=False an existing one with this id is kept."""
        conflict = "DO UPDATE SET query=excluded.query" if replace else "DO NOTHING"
        with self.transaction():
            cur = self._exec(
                "INSERT INTO subscriptions(room_id, id, query, paused, created_by, created) "
                f"VALUES (?,?,?,?,?,?) ON CONFLICT(room_id, id) {conflict}",
                (sub.room_id, sub.id, sub.query, int(sub.paused), sub.created_by, _now()),
            )
            self._bump()
        return cur.rowcount == 1

    def rename_room(self, old_id: str, new_id: str) -> None:
        """Give a room another id, with its subscriptions, keywords and alerts; if `new_id`
        exists, merge into it (on an id clash, what `new_id` already has wins)."""
        with self.transaction():
            created = self.get_room(new_id) is None
            if created:  # a placeholder address until the old row is gone (addresses are unique)
                self._exec(
                    "INSERT INTO rooms(id, platform, chat, thread, language, created, updated) "
                    "SELECT ?, platform, chat || '#renaming', thread, language, created, ? "
                    "FROM rooms WHERE id=?", (new_id, _now(), old_id))
            for table in ("subscriptions", "keywords", "story_rooms"):
                self._exec(f"UPDATE OR IGNORE {table} SET room_id=? WHERE room_id=?", (new_id, old_id))
            # Alerts carry the room in three places: the column, the dedup key, the payload.
            self._exec(
                "UPDATE OR IGNORE alerts SET room_id=?1, dedup_key=post_key || '>' || ?1, "
                "payload=json_set(payload, '$.room_id', ?1) WHERE room_id=?2", (new_id, old_id))
            self._exec("DELETE FROM rooms WHERE id=?", (old_id,))  # clashing leftovers go too
            if created:
                self._exec("UPDATE rooms SET chat=substr(chat, 1, length(chat) - 9) WHERE id=?",
                           (new_id,))
            self._bump()

    def remove_room(self, room_id: str) -> bool:
        """Remove a room with its subscriptions and keywords; its alerts stay as history (the
        relay fails unsent ones: the room is gone). A config file that still names the room
        seeds it again, from scratch, at the next start."""
        with self.transaction():
            cur = self._exec("DELETE FROM rooms WHERE id=?", (room_id,))  # cascades
            self._exec("DELETE FROM seeded WHERE (kind='room' AND key=?1) OR (kind='subscription' "
                       "AND substr(key, 1, length(?1) + 1) = ?1 || '/')", (room_id,))
            self._bump()
        return cur.rowcount == 1

    def remove_subscription(self, room_id: str, sub_id: str) -> bool:
        with self.transaction():
            cur = self._exec("DELETE FROM subscriptions WHERE room_id=? AND id=?", (room_id, sub_id))
            self._bump()
        return cur.rowcount == 1

    def set_subscription_paused(self, room_id: str, sub_id: str, paused: bool) -> bool:
        with self.transaction():
            cur = self._exec(
                "UPDATE subscriptions SET paused=? WHERE room_id=? AND id=?",
                (int(paused), room_id, sub_id),
            )
            self._bump()
        return cur.rowcount == 1

    def subscriptions(self, room_id: str | None = None) -> list[Subscription]:
        sql = "SELECT * FROM subscriptions"
        args: tuple[Any, ...] = ()
        if room_id is not None:
            sql += " WHERE room_id=?"
            args = (room_id,)
        rows = self._exec(sql + " ORDER BY room_id, created, id", args).fetchall()
        return [Subscription(r["id"], r["room_id"], r["query"], bool(r["paused"]), r["created_by"])
                for r in rows]

    def add_keyword(self, room_id: str, keyword: str, variants: Sequence[str] | None = None,
                    actor: str | None = None) -> bool:
        """Store a keyword; `variants` None keeps the variants an existing keyword has."""
        conflict = "DO NOTHING" if variants is None else "DO UPDATE SET variants=excluded.variants"
        with self.transaction():
            cur = self._exec(
                "INSERT INTO keywords(room_id, keyword, variants, created_by, created) "
                f"VALUES (?,?,?,?,?) ON CONFLICT(room_id, keyword) {conflict}",
                (room_id, keyword, json.dumps(list(variants or ()), ensure_ascii=False), actor,
                 _now()),
            )
            self._bump()
        return cur.rowcount == 1

    def remove_keyword(self, room_id: str, keyword: str) -> bool:
        with self.transaction():
            cur = self._exec("DELETE FROM keywords WHERE room_id=? AND keyword=?", (room_id, keyword))
            self._bump()
        return cur.rowcount == 1

    def keywords(self, room_id: str | None = None) -> list[Keyword]:
        sql = "SELECT * FROM keywords"
        args: tuple[Any, ...] = ()
        if room_id is not None:
            sql += " WHERE room_id=?"
            args = (room_id,)
        rows = self._exec(sql + " ORDER BY room_id, keyword", args).fetchall()
        return [Keyword(r["room_id"], r["keyword"], tuple(json.loads(r["variants"]))) for r in rows]

    def add_source(self, source: SourceRecord, actor: str | None = None) -> bool:
        with self.transaction():
            cur = self._exec(
                "INSERT OR IGNORE INTO sources(id, platform, address, name, enabled, added_by, created) "
                "VALUES (?,?,?,?,?,?,?)",
                (source.id, source.platform, source.address, source.name, int(source.enabled),
                 actor, _now()),
            )
            self._bump()
        return cur.rowcount == 1

    def remove_source(self, source_id: str) -> bool:
        with self.transaction():
            cur = self._exec("DELETE FROM sources WHERE id=?", (source_id,))
            self._bump()
        return cur.rowcount == 1

    def sources(self) -> list[SourceRecord]:
        rows = self._exec("SELECT * FROM sources ORDER BY id").fetchall()
        return [SourceRecord(r["id"], r["platform"], r["address"], r["name"], bool(r["enabled"]),
                             r["cursor"]) for r in rows]

    def set_cursor(self, source_id: str, cursor: str) -> None:
        self._exec("UPDATE sources SET cursor=? WHERE id=?", (cursor, source_id))

    def get_cursor(self, source_id: str) -> str | None:
        row = self._exec("SELECT cursor FROM sources WHERE id=?", (source_id,)).fetchone()
        return row[0] if row else None

    # -- outbox ---------------------------------------------------------------------------

    def enqueue_alert(self, alert: Alert) -> int | None:
        with self.transaction():
            cur = self._exec(
                "INSERT OR IGNORE INTO alerts(dedup_key, post_key, room_id, subscription_id, "
                "payload, created) VALUES (?,?,?,?,?,?)",
                (alert.dedup_key, alert.post.key, alert.room_id, alert.subscription_id,
                 alert_to_json(alert), _now()),
            )
            if cur.rowcount != 1:
                return None
            alert_id = cur.lastrowid
            self._exec("INSERT INTO outbox(alert_id) VALUES (?)", (alert_id,))
        return alert_id

    def _items(self, where: str, args: Sequence[Any], limit: int) -> list[OutboxItem]:
        rows = self._exec(
            "SELECT a.id, a.payload, o.state, o.attempts, o.remote_ref, o.translated, o.last_error "
            f"FROM alerts a JOIN outbox o ON o.alert_id = a.id WHERE {where} LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [OutboxItem(alert_from_json(r["payload"], r["id"]), r["state"], r["attempts"],
                           r["remote_ref"], bool(r["translated"]), r["last_error"]) for r in rows]

    def claim_alerts(self, worker: str, *, limit: int = 20, lease: float = 60.0) -> list[OutboxItem]:
        """Lease due alerts to `worker`. A 'sending' row whose lease ran out is due again:
        its worker died mid-send."""
        now = time.time()
        with self.transaction():
            self._exec(
                "UPDATE outbox SET state='sending', lease_owner=?, lease_until=?, "
                "attempts=attempts+1 WHERE alert_id IN (SELECT alert_id FROM outbox WHERE "
                "(state='pending' AND next_at<=?) OR (state='sending' AND lease_until<?) "
                "ORDER BY alert_id LIMIT ?)",
                (worker, now + lease, now, now, limit),
            )
            return self._items(
                "o.state='sending' AND o.lease_owner=? AND o.lease_until=? ORDER BY a.id",
                (worker, now + lease), limit,
            )

    def mark_sent(self, alert_id: int, worker: str, remote_ref: str | None, translated: bool) -> bool:
        cur = self._exec(
            "UPDATE outbox SET state='sent', remote_ref=?, translated=?, sent_at=?, "
            "lease_owner=NULL, lease_until=NULL, last_error=NULL "
            "WHERE alert_id=? AND lease_owner=? AND state='sending'",
            (remote_ref, int(translated), _now(), alert_id, worker),
        )
        return cur.rowcount == 1

    def renew_claim(self, alert_id: int, worker: str, lease: float) -> bool:
        """Extend this worker's lease on an alert it is about to send; False if it lost it."""
        cur = self._exec(
            "UPDATE outbox SET lease_until=? WHERE alert_id=? AND lease_owner=? AND state='sending'",
            (time.time() + lease, alert_id, worker),
        )
        return cur.rowcount == 1

    def release_claims(self, worker: str, alert_ids: Sequence[int], delay: float = 0.0) -> int:
        """Hand back alerts this worker claimed but never started sending (a clean shutdown,
        or a room that is rate-limited), due again after `delay` seconds."""
        if not alert_ids:
            return 0
        marks = ",".join("?" * len(alert_ids))
        cur = self._exec(
            "UPDATE outbox SET state='pending', attempts=MAX(attempts-1, 0), lease_owner=NULL, "
            f"lease_until=NULL, next_at=? WHERE lease_owner=? AND state='sending' "
            f"AND alert_id IN ({marks})",
            (time.time() + delay, worker, *alert_ids),
        )
        return cur.rowcount

    def mark_retry(self, alert_id: int, worker: str, error: str, delay: float) -> None:
        self._exec(
            "UPDATE outbox SET state='pending', next_at=?, last_error=?, lease_owner=NULL, "
            "lease_until=NULL WHERE alert_id=? AND lease_owner=?",
            (time.time() + delay, error[:500], alert_id, worker),
        )

    def mark_failed(self, alert_id: int, worker: str, error: str) -> None:
        self._exec(
            "UPDATE outbox SET state='failed', last_error=?, lease_owner=NULL, lease_until=NULL "
            "WHERE alert_id=? AND lease_owner=?",
            (error[:500], alert_id, worker),
        )

    def update_alerts_for_edit(self, post: Post, analysis: Analysis) -> int:
        """The post behind some alerts was edited: they get its new text (and lose the old
        translation); sent ones are flagged to be edited in place. Returns how many."""
        with self.transaction():
            rows = self._exec(
                "SELECT a.id, a.payload, o.state FROM alerts a JOIN outbox o ON o.alert_id=a.id "
                "WHERE a.post_key=?", (post.key,)).fetchall()
            for row in rows:
                old = alert_from_json(row["payload"], row["id"])
                fresh = dataclasses.replace(old, post=post, analysis=analysis, translation=None,
                                            translation_note=None)
                self._exec("UPDATE alerts SET payload=? WHERE id=?", (alert_to_json(fresh), row["id"]))
                if row["state"] in ("sending", "sent"):
                    self._exec("UPDATE outbox SET needs_update=1, translated=0 WHERE alert_id=?",
                               (row["id"],))
        return len(rows)

    def take_updates(self, limit: int = 20) -> list[OutboxItem]:
        """Sent alerts whose message should be edited to their current payload; taking them
        clears the flag (an edit that fails is not retried: the sent alert still stands)."""
        with self.transaction():
            ids = [r[0] for r in self._exec(
                "SELECT alert_id FROM outbox WHERE needs_update=1 AND state='sent' "
                "AND remote_ref IS NOT NULL AND update_after<=? ORDER BY alert_id LIMIT ?",
                (time.time(), limit)).fetchall()]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            self._exec(f"UPDATE outbox SET needs_update=0 WHERE alert_id IN ({marks})", ids)
            return self._items(f"a.id IN ({marks}) ORDER BY a.id", ids, len(ids))

    def flag_updates(self, alert_ids: Sequence[int]) -> None:
        """Flag sent alerts again for an edit in place (taken but not tried)."""
        for alert_id in alert_ids:
            self._exec("UPDATE outbox SET needs_update=1 WHERE alert_id=?", (alert_id,))

    def mark_translated(self, alert_id: int, translation: str, of_text: str | None = None) -> bool:
        """Record an alert's translation; with `of_text`, only if the alert still carries that
        text (a post edited meanwhile must not get the old text's translation). False if not."""
        with self.transaction():
            row = self._exec("SELECT payload FROM alerts WHERE id=?", (alert_id,)).fetchone()
            if row is None:
                return False
            payload = json.loads(row[0])
            if of_text is not None and payload.get("post", {}).get("text") != of_text:
                return False
            payload["translation"] = translation
            payload["translation_note"] = None
            self._exec("UPDATE alerts SET payload=? WHERE id=?",
                       (json.dumps(payload, ensure_ascii=False), alert_id))
            self._exec("UPDATE outbox SET translated=1 WHERE alert_id=?", (alert_id,))
        return True

    def outbox_counts(self) -> dict[str, int]:
        rows = self._exec("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        counts = {"pending": 0, "sending": 0, "sent": 0, "failed": 0}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def alerts_for_room(self, room_id: str, limit: int = 20) -> list[OutboxItem]:
        return self._items("a.room_id=? ORDER BY a.id DESC", (room_id,), limit)

    # -- audit ----------------------------------------------------------------------------

    def audit(self, actor: str, action: str, room_id: str | None = None, **detail: Any) -> None:
        self._exec(
            "INSERT INTO audit(at, actor, room_id, action, detail) VALUES (?,?,?,?,?)",
            (_now(), actor, room_id, action, json.dumps(detail, ensure_ascii=False, default=str)),
        )

    def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        rows = self._exec("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [AuditEntry(parse_date(r["at"]), r["actor"], r["room_id"], r["action"],
                           json.loads(r["detail"])) for r in rows]

    # -- workers (service helper: heartbeats and claim take-over) --------------------------

    @staticmethod
    def _worker(row: sqlite3.Row) -> WorkerRecord:
        return WorkerRecord(row["name"], row["instance"], row["role"], row["host"], row["pid"],
                            row["started"], row["beat"])

    def worker_beat(self, worker: WorkerRecord) -> None:
        """Record that `worker` is alive now (a new instance takes the name over)."""
        now = time.time()
        self._exec(
            "INSERT INTO workers(name, instance, role, host, pid, started, beat) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET instance=excluded.instance, "
            "role=excluded.role, host=excluded.host, pid=excluded.pid, beat=excluded.beat, "
            "started=CASE WHEN workers.instance=excluded.instance THEN workers.started "
            "ELSE excluded.started END",
            (worker.name, worker.instance, worker.role, worker.host, worker.pid,
             worker.started or now, now),
        )

    def get_worker(self, name: str) -> WorkerRecord | None:
        row = self._exec("SELECT * FROM workers WHERE name=?", (name,)).fetchone()
        return self._worker(row) if row else None

    def workers(self) -> list[WorkerRecord]:
        return [self._worker(r) for r in self._exec("SELECT * FROM workers ORDER BY name")]

    def forget_worker(self, name: str, instance: str) -> None:
        """A clean stop: the row goes (only this instance's; a successor's stays)."""
        self._exec("DELETE FROM workers WHERE name=? AND instance=?", (name, instance))

    def expire_claims_of(self, name: str) -> int:
        """End the leases of `name`'s alerts in 'sending': the next claim takes them."""
        cur = self._exec(
            "UPDATE outbox SET lease_until=0 WHERE state='sending' AND lease_owner=? "
            "AND lease_until>0", (name,))
        return cur.rowcount

    def expire_stale_claims(self, stale_after: float) -> int:
        """End the leases held by every worker whose last heartbeat is older than
        `stale_after` seconds; a worker with no heartbeat row keeps its lease."""
        cur = self._exec(
            "UPDATE outbox SET lease_until=0 WHERE state='sending' AND lease_until>0 AND "
            "lease_owner IN (SELECT name FROM workers WHERE beat<?)",
            (time.time() - stale_after,))
        return cur.rowcount


def _split_sql(sql: str) -> list[str]:
    """Split a migration into statements; trigger bodies keep their inner semicolons."""
    statements, buf = [], []
    for line in sql.splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("--")):
            continue
        buf.append(line)
        text = "\n".join(buf)
        if stripped.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            buf = []
    if "".join(buf).strip():
        statements.append("\n".join(buf))
    return statements
