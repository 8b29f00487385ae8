"""This module contains the PostgreSQL store, selected by `storage: {url: postgresql://...}`.

It is the SQLite store's protocol on a server that several processes on several machines can
share. Most statements are the SQLite store's own, run through a small, explicit dialect
translation (`_pg`: `?` placeholders, `INSERT OR IGNORE`, `IS ?`, two-argument MIN/MAX,
the non-ASCII GLOB of `bot.storage.sqlfilter`); the methods whose SQL differs in substance are overridden here:
ids come back with RETURNING, outbox claims take rows with `FOR UPDATE SKIP LOCKED` (two
relays never wait on or take each other's rows), and search narrows words with PostgreSQL
full-text search (a `simple` tsvector over our folded words, GIN-indexed; `migrations/postgres`).

One connection per store, guarded by a lock like SQLite's. A failed statement inside a
transaction dooms it (PostgreSQL aborts the transaction anyway): everything is rolled back and
the transaction never commits. A lost or refused connection is a transient StorageError.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg

from bot.errors import ConfigError, StorageError
from bot.model import Post
from bot.pipeline.query import EXACT, INFLECT, Near, Node, Query, Words
from bot.ports import OutboxItem, SaveResult
from bot.storage.migrate import run_migrations
from bot.storage.sqlfilter import field_filter
from bot.storage.sqlite import SQLiteStore, search_text

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x77697265  # pg_advisory_xact_lock key: one migrating process at a time


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """The PostgreSQL text of one of the shared (SQLite-flavoured) statements."""
    sql = sql.replace("%", "%%")
    sql = sql.replace("source_id GLOB '*[^ -~]*'", "source_id ~ '[^ -~]'")
    sql = re.sub(r"\bIS \?", "IS NOT DISTINCT FROM ?", sql)
    # SQLite's two-argument MIN/MAX are PostgreSQL's LEAST/GREATEST.
    sql = re.sub(r"\bMIN\(([^(),]+),([^(),]+)\)", r"LEAST(\1,\2)", sql)
    sql = re.sub(r"\bMAX\(([^(),]+),([^(),]+)\)", r"GREATEST(\1,\2)", sql)
    if sql.lstrip().upper().startswith("INSERT OR IGNORE"):
        sql = re.sub(r"^\s*INSERT OR IGNORE", "INSERT", sql, flags=re.I) + " ON CONFLICT DO NOTHING"
    return sql.replace("?", "%s")


class _Row(tuple):
    """A result row readable by position and by column name, like sqlite3.Row."""

    __slots__ = ()
    _names: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: psycopg.Cursor[Any]) -> Any:
    if cursor.description is None:
        return tuple
    names = {c.name: i for i, c in enumerate(cursor.description)}
    row_type = type("Row", (_Row,), {"__slots__": (), "_names": names})
    return lambda values: row_type(values)


class _Result:
    __slots__ = ("_rows", "rowcount")

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._rows = cursor.fetchall() if cursor.description is not None else []
        self.rowcount = cursor.rowcount

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


def _lexeme(text: str, prefix: bool) -> str:
    quoted = "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    return quoted + (":*" if prefix else "")


def _tsquery(node: Words) -> str | None:
    """The tsquery text every post matching `node` satisfies (its words, AND-ed)."""
    terms = []
    for piece in node.pieces:
        text = (piece.stem if piece.mode == INFLECT else piece.text).strip()
        if text:
            terms.append(_lexeme(text, prefix=piece.mode != EXACT))
    return " & ".join(terms) or None


def _words(node: Node) -> tuple[str, list[Any]] | None:
    """A necessary full-text condition for a Words or Near node (None: cannot narrow)."""
    if isinstance(node, Near):
        # NEAR needs some word of the left and some of the right: an OR per side, AND-ed.
        sides = []
        for side in (node.left, node.right):
            alts = [_tsquery(w) for w in side]
            if not alts or None in alts:
                continue
            sides.append("(" + " | ".join(f"({a})" for a in alts) + ")")
        text = " & ".join(sides)
    elif isinstance(node, Words):
        text = _tsquery(node) or ""
    else:
        return None
    if not text:
        return None
    return "search_tsv @@ to_tsquery('simple', ?)", [text]


class PostgresStore(SQLiteStore):
    """The Store protocol on a PostgreSQL database named by a libpq URL.

    `timeout` bounds connecting and each statement's wait for a lock; `schema` stops the
    migrations at that version (tests of upgrades)."""

    dialect = "postgres"

    def __init__(self, url: str, *, timeout: float = 30.0, schema: int | None = None) -> None:
        self.path = _redact(url)
        self.url = url
        self.timeout = timeout
        self._lock = threading.RLock()
        self._depth = 0
        self._doomed: StorageError | None = None
        self._fts_refused: set[str] = set()
        self._closed = False  # by close(): no reconnecting then
        self._db = self._connect()
        try:
            with self._migrating():
                self._exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            run_migrations(_Migrator(self), upto=schema)
        except (psycopg.Error, StorageError) as exc:
            self._db.close()
            if isinstance(exc, StorageError) and exc.transient:
                raise
            raise ConfigError(f"{self.path} is not a usable wirewatch database: {exc}") from None

    # -- plumbing -------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self.timeout)),
                row_factory=_row_factory,
                options=f"-c lock_timeout={int(self.timeout * 1000)}",
            )
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {self.path}: "
                               f"{str(exc).strip()}") from None

    def _ensure_connected(self) -> None:
        """Outside a transaction, replace a connection the server dropped (a restart, a
        failover): the call that met the loss failed with a transient StorageError."""
        if self._db.broken or (self._db.closed and not self._closed):
            self._db = self._connect()

    @contextmanager
    def _migrating(self) -> Iterator[None]:
        """A transaction holding the migration lock, so processes starting together take
        turns (the runner then finds each version applied and moves on)."""
        with self.transaction():
            self._exec("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            yield

    def execute_script(self, sql: str) -> None:
        """Run a migration file (PostgreSQL takes several statements at once)."""
        self._run(sql, raw=True)

    def _begin(self) -> None:
        self._ensure_connected()
        self._run("BEGIN")

    def _in_transaction(self) -> bool:
        return self._db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def _finish(self, verb: str) -> None:
        self._doomed = None
        if self._db.closed or not self._in_transaction():
            return
        try:
            self._db.execute(verb)
        except psycopg.Error as exc:
            if verb == "ROLLBACK":
                log.warning("rollback failed: %s", exc)
                return
            self._rollback_quietly()
            raise _fault(exc, self.path) from exc

    def _rollback_quietly(self) -> None:
        try:
            if not self._db.closed and self._in_transaction():
                self._db.execute("ROLLBACK")
        except psycopg.Error:
            log.warning("rollback after a failed statement failed", exc_info=True)

    def _run(self, sql: str, args: Sequence[Any] = (), many: bool = False,
             raw: bool = False) -> _Result:  # type: ignore[override]
        with self._lock:
            if self._depth and self._doomed is not None:
                raise StorageError(str(self._doomed), transient=self._doomed.transient)
            if not self._depth:
                self._ensure_connected()
            text = sql if raw else _pg(sql)
            try:
                with self._db.cursor() as cur:
                    if many:
                        cur.executemany(text, args)
                    else:
                        cur.execute(text, args or None)
                    return _Result(cur)
            except psycopg.Error as exc:
                fault = _fault(exc, self.path)
                if self._depth:
                    # PostgreSQL has aborted the transaction: roll all of it back, remember.
                    self._rollback_quietly()
                    self._doomed = fault
                    log.error("storage failure, transaction rolled back: %s", exc)
                if isinstance(exc, psycopg.OperationalError | psycopg.errors.DiskFull |
                              psycopg.errors.LockNotAvailable):
                    raise fault from exc
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._closed = True

    # -- posts and search -------------------------------------------------------------------

    def save_post(self, post: Post, analysis: Any) -> SaveResult:
        # The shared body reads `lastrowid` and relies on SQLite's one writer at a time:
        # here the id comes back with RETURNING, and a key another process inserted
        # meanwhile is found again instead of failing on the unique index.
        with self.transaction():
            row = self._exec("SELECT id, text FROM posts WHERE key=? FOR UPDATE",
                             (post.key,)).fetchone()
            if row is None:
                got = self._exec(
                    "INSERT INTO posts(key, source_id, platform, chat, message_id, author, url, "
                    "origin, date, text, search_text, edited, lang, lang_confidence, entities, "
                    "topics, first_seen, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (key) DO NOTHING RETURNING id", _post_row(post, analysis)).fetchone()
                if got is not None:
                    self._mentions(got[0], analysis)
                    return SaveResult(post_id=got[0], new=True, changed=True)
                row = self._exec("SELECT id, text FROM posts WHERE key=? FOR UPDATE",
                                 (post.key,)).fetchone()
            if row["text"] == post.text:
                return SaveResult(post_id=row["id"], new=False, changed=False)
            self._exec(
                "UPDATE posts SET text=?, search_text=?, edited=1, entities=?, topics=?, "
                "lang=?, lang_confidence=?, updated=? WHERE id=?",
                (post.text, search_text(post.text), " ".join(analysis.matched_ids),
                 " ".join(analysis.topics), analysis.lang,
                 analysis.lang_confidence if analysis.lang else None, _now(), row["id"]))
            self._exec("DELETE FROM mentions WHERE post_id=?", (row["id"],))
            self._mentions(row["id"], analysis)
            return SaveResult(post_id=row["id"], new=False, changed=True)

    def _mentions(self, post_id: int, analysis: Any) -> None:
        if analysis.mentions:
            self._execmany(
                'INSERT INTO mentions(post_id, entity_id, surface, start, "end") VALUES (?,?,?,?,?)',
                [(post_id, m.entity_id, m.surface, m.start, m.end) for m in analysis.mentions])

    def search_posts(self, query: Query | None, *, since: Any = None, limit: int = 200,
                     before_id: int | None = None) -> list[Any]:
        """Newest first, a superset of the hits: fields in SQL, words through the GIN index."""
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            from datetime import UTC

            where.append("date >= ?")
            args.append(since.astimezone(UTC).isoformat())
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        if query is not None:
            cond = field_filter(query, words=_words)
            if cond is not None:
                where.append(cond[0])
                args.extend(cond[1])
        return self._select_posts(where, args, limit)

    # -- statements whose SQL differs -------------------------------------------------------

    def put_translation(self, key: str, source: str, target: str, text: str, provider: str) -> None:
        self._exec(
            "INSERT INTO translations VALUES (?,?,?,?,?,?) ON CONFLICT (text_key, source, target) "
            "DO UPDATE SET text=excluded.text, provider=excluded.provider, created=excluded.created",
            (key, source, target, text, provider, _now()))

    def _bump(self) -> None:
        self._exec("INSERT INTO meta(key, value) VALUES('revision', 1) "
                   "ON CONFLICT(key) DO UPDATE SET value = meta.value + 1")

    def rename_room(self, old_id: str, new_id: str) -> None:
        with self.transaction():
            created = self.get_room(new_id) is None
            if created:  # a placeholder address until the old row is gone (addresses are unique)
                self._exec(
                    "INSERT INTO rooms(id, platform, chat, thread, language, created, updated) "
                    "SELECT ?, platform, chat || '#renaming', thread, language, created, ? "
                    "FROM rooms WHERE id=?", (new_id, _now(), old_id))
            # No UPDATE OR IGNORE: move the rows the target does not have yet (theirs win).
            self._exec("UPDATE subscriptions s SET room_id=? WHERE room_id=? AND NOT EXISTS ("
                       "SELECT 1 FROM subscriptions t WHERE t.room_id=? AND t.id=s.id)",
                       (new_id, old_id, new_id))
            self._exec("UPDATE keywords k SET room_id=? WHERE room_id=? AND NOT EXISTS ("
                       "SELECT 1 FROM keywords t WHERE t.room_id=? AND t.keyword=k.keyword)",
                       (new_id, old_id, new_id))
            self._exec(
                "UPDATE alerts a SET room_id=?, dedup_key=post_key || '>' || ?, "
                "payload=jsonb_set(payload::jsonb, '{room_id}', to_jsonb(?::text))::text "
                "WHERE room_id=? AND NOT EXISTS (SELECT 1 FROM alerts t "
                "WHERE t.dedup_key = a.post_key || '>' || ?)",
                (new_id, new_id, new_id, old_id, new_id))
            self._exec("DELETE FROM rooms WHERE id=?", (old_id,))  # clashing leftovers go too
            if created:
                self._exec("UPDATE rooms SET chat=substr(chat, 1, length(chat) - 9) WHERE id=?",
                           (new_id,))
            self._bump()

    def remove_room(self, room_id: str) -> bool:
        with self.transaction():
            cur = self._exec("DELETE FROM rooms WHERE id=?", (room_id,))  # cascades
            self._exec("DELETE FROM seeded WHERE (kind='room' AND key=?) OR (kind='subscription' "
                       "AND substr(key, 1, length(?) + 1) = ? || '/')", (room_id, room_id, room_id))
            self._bump()
        return cur.rowcount == 1

    def enqueue_alert(self, alert: Any) -> int | None:
        from bot.codec import alert_to_json

        with self.transaction():
            row = self._exec(
                "INSERT INTO alerts(dedup_key, post_key, room_id, subscription_id, payload, "
                "created) VALUES (?,?,?,?,?,?) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
                (alert.dedup_key, alert.post.key, alert.room_id, alert.subscription_id,
                 alert_to_json(alert), _now())).fetchone()
            if row is None:
                return None
            self._exec("INSERT INTO outbox(alert_id) VALUES (?)", (row[0],))
        return row[0]

    def claim_alerts(self, worker: str, *, limit: int = 20, lease: float = 60.0) -> list[OutboxItem]:
        """Lease due alerts to `worker`; rows another relay is claiming are skipped, not
        waited for. A 'sending' row whose lease ran out is due again (its worker died)."""
        now = time.time()
        with self.transaction():
            ids = [r[0] for r in self._exec(
                "UPDATE outbox SET state='sending', lease_owner=?, lease_until=?, "
                "attempts=attempts+1 WHERE alert_id IN (SELECT alert_id FROM outbox WHERE "
                "(state='pending' AND next_at<=?) OR (state='sending' AND lease_until<?) "
                "ORDER BY alert_id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING alert_id",
                (worker, now + lease, now, now, limit))]
            if not ids:
                return []
            return self._items("a.id = ANY(?) ORDER BY a.id", (ids,), limit)

    def release_claims(self, worker: str, alert_ids: Sequence[int], delay: float = 0.0) -> int:
        if not alert_ids:
            return 0
        cur = self._exec(
            "UPDATE outbox SET state='pending', attempts=GREATEST(attempts-1, 0), "
            "lease_owner=NULL, lease_until=NULL, next_at=? WHERE lease_owner=? "
            "AND state='sending' AND alert_id = ANY(?)",
            (time.time() + delay, worker, list(alert_ids)))
        return cur.rowcount

    def take_updates(self, limit: int = 20) -> list[OutboxItem]:
        with self.transaction():
            ids = [r[0] for r in self._exec(
                "UPDATE outbox SET needs_update=0 WHERE alert_id IN (SELECT alert_id FROM outbox "
                "WHERE needs_update=1 AND state='sent' AND remote_ref IS NOT NULL "
                "AND update_after<=? ORDER BY alert_id LIMIT ? FOR UPDATE SKIP LOCKED) "
                "RETURNING alert_id", (time.time(), limit))]
            if not ids:
                return []
            return self._items("a.id = ANY(?) ORDER BY a.id", (ids,), len(ids))

    def mark_translated(self, alert_id: int, translation: str, of_text: str | None = None) -> bool:
        with self.transaction():
            row = self._exec("SELECT payload FROM alerts WHERE id=? FOR UPDATE",
                             (alert_id,)).fetchone()
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


class _Migrator:
    """The migration runner's view of a PostgresStore: its transactions hold the lock."""

    dialect = "postgres"

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def current_version(self) -> int:
        return self._store.current_version()

    def transaction(self) -> Any:
        return self._store._migrating()

    def execute_script(self, sql: str) -> None:
        self._store.execute_script(sql)

    def record_version(self, version: int) -> None:
        self._store.record_version(version)


def _post_row(post: Post, analysis: Any) -> tuple[Any, ...]:
    from datetime import UTC

    now = _now()
    return (post.key, post.source_id, post.platform, post.chat, post.message_id, post.author,
            post.url, post.origin, post.date.astimezone(UTC).isoformat(), post.text,
            search_text(post.text), int(post.edited), analysis.lang,
            analysis.lang_confidence if analysis.lang else None,
            " ".join(analysis.matched_ids), " ".join(analysis.topics), now, now)


def _now() -> str:
    from bot.model import utcnow

    return utcnow().isoformat()


def _redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _fault(exc: psycopg.Error, where: str) -> StorageError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.errors.DiskFull):
        return StorageError(f"the PostgreSQL server at {where} is out of disk space: {text}")
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return StorageError(f"{where}: a lock was held too long by another process ({text})")
    if isinstance(exc, psycopg.OperationalError):
        return StorageError(f"lost the PostgreSQL connection to {where}: {text}")
    return StorageError(f"the transaction on {where} was rolled back: {text}")

