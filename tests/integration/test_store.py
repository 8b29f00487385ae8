"""What is particular to the SQLite engine; the engine-neutral contract is test_store_contract.py."""

import sqlite3

from bot.model import Alert, Analysis, Post, Room
from bot.pipeline.query import parse
from bot.storage import open_store
from bot.storage.migrate import latest_version, migrations
from bot.storage.sqlite import SQLiteStore, _split_sql


def post(mid="1", text="Северокорейские войска в Курской области"):
    return Post(source_id="gur", platform="telegram", chat="-1001", message_id=mid, text=text)


def test_the_file_is_in_wal_mode(tmp_path):
    store = SQLiteStore(tmp_path / "w.db")
    assert store._exec("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_a_version_1_file_of_the_first_release_is_upgraded_in_place(tmp_path):
    """Built as the first release did: its one migration file (now split into the common
    part and the SQLite FTS5 part), and the meta table it created outside the migrations."""
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    version, name, sql = migrations("sqlite")[0]
    assert version == 1 and "sqlite" not in name.split(" + ")[0] and "fts5" in sql
    for statement in _split_sql(sql):
        db.execute(statement)
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('revision', 4)")
    db.execute("INSERT INTO posts(key, source_id, platform, chat, message_id, date, text, "
               "search_text, first_seen, updated) VALUES ('gur:-1001:1', 'gur', 'telegram', "
               "'-1001', '1', '2024-01-01T00:00:00+00:00', 'Курск', 'курск', 'x', 'x')")
    db.commit()
    db.close()
    s = SQLiteStore(path)  # an older deployment's file, opened by this version
    assert s.schema_version() == latest_version() >= 3
    assert s.revision() == 4 and s.upsert_room(Room("r", "console", "r")) and s.revision() == 5
    assert [p.post.key for p in s.search_posts(parse("курск"))] == ["gur:-1001:1"]
    aid = s.enqueue_alert(Alert(post(), "r", "s", Analysis()))
    assert s.claim_alerts("w")[0].alert.id == aid
    s.close()


def test_open_store_takes_settings_a_path_or_memory(tmp_path, monkeypatch):
    from bot.settings import StorageSettings

    monkeypatch.setenv("WW_DATA", str(tmp_path))
    s = open_store(StorageSettings(path="$WW_DATA/sub/x.db"))
    s.save_post(post(), Analysis())
    s.close()
    assert (tmp_path / "sub" / "x.db").exists()
    memory = open_store(StorageSettings(path=str(tmp_path / "never.db")), in_memory=True)
    memory.save_post(post(), Analysis())
    assert memory.count_posts() == 1 and not (tmp_path / "never.db").exists()
    memory.close()
    assert open_store(":memory:").count_posts() == 0


def test_search_still_answers_when_fts_refuses(tmp_path):
    """The store, not its callers, copes with FTS5 refusing the prefilter (here: its index
    table is gone, as after a `.recover` that skipped it); the scan gives the same hits."""
    path = tmp_path / "f.db"
    s = SQLiteStore(path)
    s.save_post(post("1", "войска у Курска"), Analysis())
    s.save_post(post("2", "Курс рубля"), Analysis())
    s.close()
    db = sqlite3.connect(path)
    for name in ("posts_ai", "posts_ad", "posts_au"):
        db.execute(f"DROP TRIGGER {name}")
    db.execute("DROP TABLE posts_fts")
    db.commit()
    db.close()
    s = SQLiteStore(path)
    assert {p.post.message_id for p in s.search_posts(parse("курска"))} >= {"1"}
    from handlers.finder import find_posts

    assert [p.post.message_id for p in find_posts(s, parse("курска"))] == ["1"]
    s.close()
