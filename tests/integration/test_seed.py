"""Seeding from the config file against what moderators did in chat."""

from bot.bootstrap import seed
from bot.model import Room, Subscription
from bot.settings import parse_settings
from bot.storage.sqlite import SQLiteStore

CONFIG = """
rooms:
  - id: desk
    platform: telegram
    chat: -100500
    language: de
    subscriptions:
      - {id: s1, query: 'entity:kursk'}
"""


def test_a_chat_room_made_in_chat_is_adopted_by_the_config(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    store.upsert_room(Room("telegram-100500", "telegram", "-100500", None, "en"))
    store.add_subscription(Subscription("s1", "telegram-100500", "entity:putin", created_by="m"))
    store.add_keyword("telegram-100500", "casualties", ["потери"])
    seed(store, parse_settings(CONFIG))
    assert [r.id for r in store.rooms()] == ["desk"]
    assert store.find_room("telegram", "-100500").id == "desk"
    # the moderator's s1 is kept; the file's s1 does not overwrite it
    [sub] = store.subscriptions("desk")
    assert (sub.query, sub.created_by) == ("entity:putin", "m")
    assert store.keywords("desk")[0].variants == ("потери",)
    store.close()


def test_seeding_twice_changes_nothing_a_moderator_did(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    settings = parse_settings(CONFIG)
    seed(store, settings)
    store.remove_subscription("desk", "s1")
    store.set_room_language("desk", "uk")
    seed(store, settings)  # a restart
    assert store.subscriptions("desk") == []
    assert store.get_room("desk").language == "uk"
    store.close()


def test_adopted_rooms_keep_their_alerts_deliverable(tmp_path):
    from bot.model import Alert, Analysis, Post

    store = SQLiteStore(tmp_path / "s.db")
    store.upsert_room(Room("telegram-100500", "telegram", "-100500", None, "en"))
    post = Post("src", "telegram", "-1", "1", "Курская область")
    store.enqueue_alert(Alert(post, "telegram-100500", "s1", Analysis(lang="ru")))
    seed(store, parse_settings(CONFIG))
    [item] = store.claim_alerts("w")
    assert item.alert.room_id == "desk"  # the relay reads the room from the payload
    # the dedup key moved too: the same post cannot alert the adopted room a second time
    assert store.enqueue_alert(Alert(post, "desk", "s1", Analysis())) is None
    store.close()


def test_a_config_room_can_move_onto_a_chat_made_room(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    seed(store, parse_settings(CONFIG))  # desk at -100500
    store.upsert_room(Room("telegram-100600", "telegram", "-100600", None, "en"))
    store.add_subscription(Subscription("s9", "telegram-100600", "entity:gur"))
    seed(store, parse_settings(CONFIG.replace("-100500", "-100600")))  # desk moves there
    assert [r.id for r in store.rooms()] == ["desk"]
    assert store.get_room("desk").chat == "-100600"
    assert sorted(s.id for s in store.subscriptions("desk")) == ["s1", "s9"]
    store.close()


def _open_v1(path, out):
    try:
        SQLiteStore(path).close()
        out.put("ok")
    except Exception as exc:  # reported to the parent
        out.put(repr(exc))


def test_several_processes_upgrade_one_database_together(tmp_path):
    import multiprocessing
    import sqlite3

    from bot.storage.migrate import migrations
    from bot.storage.sqlite import _split_sql

    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in _split_sql(migrations()[0][2]):
        db.execute(statement)
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.commit()
    db.close()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_open_v1, args=(path, out)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results == ["ok", "ok", "ok"]
