"""Real SQLite faults under the store: a full disk, a lock held too long, a damaged file.

Each must raise StorageError with a plain message, leave nothing of the failed transaction
half-written, keep what was committed before, and let the next transaction work once the
cause is gone."""

import os
import sqlite3

import pytest

from bot.errors import StorageError
from bot.model import Alert, Analysis, Mention, Post, Room, Subscription
from bot.ports import SourceRecord
from bot.storage.sqlite import SQLiteStore

BIG = "Северокорейские войска в Курской области " * 60  # ~2.5 kB: a page or so per post


def post(mid, text=BIG):
    return Post(source_id="gur", platform="telegram", chat="-1001", message_id=str(mid), text=text)


def analysis():
    return Analysis(mentions=(Mention("kursk", "Курской", 29, 36),))


def keys(store):
    return sorted(int(sp.post.message_id) for sp in store.recent_posts(limit=10_000))


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "f.db", timeout=0.2)
    s.upsert_room(Room("newsroom", "telegram", "-1002", None, "en"))
    with s.transaction():
        for i in range(5):
            s.save_post(post(i), analysis())
    yield s
    s.close()


def fill_disk(store):
    pages = store._exec("PRAGMA page_count").fetchone()[0]
    store._exec(f"PRAGMA max_page_count={pages + 8}")  # room for a few posts, not a batch


def free_disk(store):
    store._exec("PRAGMA max_page_count=4294967294")


def test_a_full_disk_mid_batch_rolls_back_the_whole_batch(store):
    fill_disk(store)
    with pytest.raises(StorageError) as err, store.transaction():
        for i in range(5, 200):
            store.save_post(post(i), analysis())
    assert err.value.transient and "disk is full" in str(err.value)
    assert keys(store) == [0, 1, 2, 3, 4]  # earlier commits intact, nothing of the batch
    free_disk(store)
    with store.transaction():
        for i in range(5, 60):
            store.save_post(post(i), analysis())
    assert keys(store) == list(range(60))


def test_a_batch_that_swallows_the_error_never_commits_piecemeal(store):
    """App.ingest logs and carries on per post: the rest of the batch must not be committed
    one statement at a time after SQLite rolled the transaction back."""
    fill_disk(store)
    failed: list[int] = []
    with pytest.raises(StorageError, match="disk is full"), store.transaction():
        for i in range(5, 100):
            try:
                store.save_post(post(i), analysis())
            except StorageError:
                failed.append(i)
    assert failed and failed == list(range(failed[0], 100))  # every post after the fault failed
    assert keys(store) == [0, 1, 2, 3, 4]
    assert store._exec("SELECT COUNT(*) FROM mentions").fetchone()[0] == 5
    free_disk(store)
    store.save_post(post(7), analysis())
    assert keys(store) == [0, 1, 2, 3, 4, 7]


def test_a_full_disk_outside_a_transaction_is_a_storage_error(store):
    store._exec(f"PRAGMA max_page_count={store._exec('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(StorageError, match="disk is full"):
        store.audit("t", "big", None, blob="x" * 50_000)
    with pytest.raises(StorageError, match="disk is full"):
        store.save_post(post(99), analysis())
    assert store.get_post(post(99).key) is None and keys(store) == [0, 1, 2, 3, 4]
    free_disk(store)
    store.audit("t", "big", None, blob="x" * 50_000)
    assert store.audit_log(1)[0].detail["blob"] == "x" * 50_000


def _alert(store):
    return Alert(post(1), "newsroom", "nk", Analysis(lang="ru"))


WRITES = {
    "save_post": lambda s: s.save_post(post(50), analysis()),
    "set_post_language": lambda s: s.set_post_language(1, "ru", 0.9),
    "put_translation": lambda s: s.put_translation("k", "ru", "en", "hi", "libre"),
    "seed_once": lambda s: s.seed_once("room", "x"),
    "upsert_room": lambda s: s.upsert_room(Room("r2", "telegram", "-3", None, "en")),
    "set_room_language": lambda s: s.set_room_language("newsroom", "de"),
    "add_subscription": lambda s: s.add_subscription(Subscription("nk", "newsroom", "kursk")),
    "rename_room": lambda s: s.rename_room("newsroom", "desk"),
    "add_keyword": lambda s: s.add_keyword("newsroom", "kursk", ["курск"]),
    "add_source": lambda s: s.add_source(SourceRecord("rybar", "telegram_public", "rybar")),
    "set_cursor": lambda s: s.set_cursor("rybar", "1"),
    "enqueue_alert": lambda s: s.enqueue_alert(_alert(s)),
    "claim_alerts": lambda s: s.claim_alerts("w"),
    "update_alerts_for_edit": lambda s: s.update_alerts_for_edit(post(1), Analysis()),
    "take_updates": lambda s: s.take_updates(),
    "mark_translated": lambda s: s.mark_translated(1, "x"),
    "audit": lambda s: s.audit("t", "x"),
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_every_write_fails_cleanly_while_another_process_holds_the_lock(store, tmp_path, name):
    other = sqlite3.connect(tmp_path / "f.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError) as err:
            WRITES[name](store)
        assert err.value.transient and "locked by another process" in str(err.value)
        assert keys(store) == [0, 1, 2, 3, 4]  # reads still work under WAL
    finally:
        other.execute("ROLLBACK")
        other.close()
    WRITES[name](store)  # the lock is gone: the same write now works
    with store.transaction():
        store.save_post(post(51), analysis())
    assert 51 in keys(store)


def test_a_lock_taken_mid_transaction_by_nobody_else_is_not_needed_to_commit(store, tmp_path):
    """A batch that holds the write lock keeps it: another writer waits, then fails cleanly."""
    other = SQLiteStore(tmp_path / "f.db", timeout=0.1)
    with store.transaction():
        store.save_post(post(60), analysis())
        with pytest.raises(StorageError, match="locked"):
            other.save_post(post(61), analysis())
    other.save_post(post(61), analysis())
    assert keys(other)[-2:] == [60, 61]
    other.close()


def test_a_damaged_file_is_a_permanent_storage_error_and_intact_tables_still_work(tmp_path):
    path = tmp_path / "m.db"
    s = SQLiteStore(path)
    s.upsert_room(Room("newsroom", "telegram", "-1002", None, "en"))
    with s.transaction():
        for i in range(300):
            s.save_post(post(i, f"текст поста номер {i} " * 20), Analysis())
    s.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    pages = os.path.getsize(path) // 4096
    with open(path, "r+b") as f:  # garbage over the later pages: the posts' data and index
        f.seek(4096 * (pages // 2))
        f.write(b"\xff" * 4096 * (pages // 2 - 2))
    s = SQLiteStore(path)
    for attempt in (lambda: s.recent_posts(limit=500), lambda: s.count_posts(),
                    lambda: s.save_post(post("new", "x"), Analysis())):
        with pytest.raises(StorageError) as err:
            attempt()
        assert not err.value.transient and "damaged" in str(err.value)
    s.upsert_room(Room("desk", "telegram", "-5", None, "de"))  # untouched tables keep working
    assert [r.id for r in s.rooms()] == ["desk", "newsroom"]
    s.close()


def test_a_file_of_garbage_is_refused_at_open_with_a_plain_message(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(Exception) as err:
        SQLiteStore(path)
    assert "not a usable wirewatch database" in str(err.value)
