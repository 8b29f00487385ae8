import multiprocessing
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.model import Alert, Analysis, Mention, Post, Room, Subscription
from bot.pipeline.query import parse
from bot.ports import SourceRecord
from bot.storage.migrate import latest_version
from bot.storage.sqlite import SQLiteStore


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "w.db")
    yield s
    s.close()


def post(mid="1", text="Северокорейские войска в Курской области", **kw):
    return Post(source_id="gur", platform="telegram", chat="-1001", message_id=mid, text=text, **kw)


def alert(p, room="newsroom"):
    return Alert(p, room, "nk-kursk", Analysis(lang="ru", lang_confidence=0.99))


def test_schema_is_migrated_and_wal(store, tmp_path):
    assert store.schema_version() == latest_version()
    assert store._exec("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened = SQLiteStore(tmp_path / "w.db")  # migrations are not re-applied
    assert reopened.schema_version() == latest_version()
    reopened.close()


def test_posts_saved_searched_and_edited(store):
    analysis = Analysis(mentions=(Mention("kursk", "Курской", 23, 30),), topics=("conflict",))
    first = store.save_post(post(), analysis)
    assert first.new and first.changed
    again = store.save_post(post(), analysis)
    assert not again.new and not again.changed
    assert [p.post.message_id for p in store.search_posts(parse('"курской"'))] == ["1"]
    assert [p.id for p in store.search_posts(parse("entity:kursk"))] == [first.post_id]
    assert store.search_posts(parse("topic:conflict"))[0].topics == ("conflict",)
    edited = store.save_post(post(text="Обновлено: войска в Курске", edited=True), Analysis())
    assert edited.changed and not edited.new
    assert store.search_posts(parse('"курской"')) == []
    assert store.get_post(post().key).post.text.startswith("Обновлено")
    assert store.search_posts(parse("entity:kursk")) == []


def test_recent_posts_newest_first_and_since(store):
    old = datetime.now(UTC) - timedelta(days=3)
    store.save_post(post("1", date=old), Analysis())
    store.save_post(post("2"), Analysis())
    assert [p.post.message_id for p in store.recent_posts()] == ["2", "1"]
    since = datetime.now(UTC) - timedelta(hours=24)
    assert [p.post.message_id for p in store.recent_posts(since=since)] == ["2"]


def test_alert_is_unique_per_post_and_room(store):
    p = post()
    assert store.enqueue_alert(alert(p)) is not None
    assert store.enqueue_alert(alert(p)) is None
    assert store.enqueue_alert(alert(p, room="other")) is not None
    assert store.outbox_counts()["pending"] == 2


def test_claims_are_exclusive_and_leases_expire(store):
    aid = store.enqueue_alert(alert(post()))
    first = store.claim_alerts("w1", lease=0.2)
    assert [i.alert.id for i in first] == [aid]
    assert first[0].alert.analysis.lang == "ru"
    assert store.claim_alerts("w2") == []  # leased to w1
    time.sleep(0.25)
    second = store.claim_alerts("w2", lease=30)
    assert [i.alert.id for i in second] == [aid] and second[0].attempts == 2
    assert not store.mark_sent(aid, "w1", "ref", False)  # w1 lost its lease
    assert store.mark_sent(aid, "w2", "ref", True)
    assert store.claim_alerts("w3") == []
    assert store.outbox_counts()["sent"] == 1


def test_retry_waits_and_failed_stays_failed(store):
    aid = store.enqueue_alert(alert(post()))
    store.claim_alerts("w")
    store.mark_retry(aid, "w", "429", delay=60)
    assert store.claim_alerts("w") == []
    store._exec("UPDATE outbox SET next_at=0")
    [item] = store.claim_alerts("w")
    assert item.last_error == "429"
    store.mark_failed(aid, "w", "forbidden")
    assert store.claim_alerts("w") == [] and store.outbox_counts()["failed"] == 1


def test_late_translation_recorded_in_payload(store):
    aid = store.enqueue_alert(alert(post()))
    store.mark_translated(aid, "North Korean troops in the Kursk region")
    [item] = store.claim_alerts("w")
    assert item.alert.translation.startswith("North Korean") and item.translated


def test_rooms_subscriptions_keywords_sources_persist(tmp_path):
    s = SQLiteStore(tmp_path / "p.db")
    rev = s.revision()
    s.upsert_room(Room("newsroom", "telegram", "-1002", None, "en"))
    s.add_subscription(Subscription("nk", "newsroom", "entity:north_korea", created_by="t"))
    s.set_subscription_paused("newsroom", "nk", True)
    s.add_keyword("newsroom", "casualties", ["потери", "втрати"])
    s.add_source(SourceRecord("rybar", "telegram_public", "rybar"))
    s.set_cursor("rybar", "120")
    s.set_room_language("newsroom", "de")
    s.audit("telegram:1", "subscribe", "newsroom", id="nk")
    assert s.revision() > rev
    s.close()
    s = SQLiteStore(tmp_path / "p.db")
    assert s.get_room("newsroom").language == "de"
    assert s.find_room("telegram", "-1002").id == "newsroom"
    assert s.subscriptions("newsroom")[0].paused
    assert s.keywords("newsroom")[0].variants == ("потери", "втрати")
    assert s.get_cursor("rybar") == "120"
    entry = s.audit_log()[0]
    assert (entry.actor, entry.action, entry.detail) == ("telegram:1", "subscribe", {"id": "nk"})
    assert s.upsert_room(Room("newsroom", "telegram", "-1002", None, "en")).language == "de"
    assert s.seed_once("room", "newsroom") and not s.seed_once("room", "newsroom")
    s.close()


def test_translation_cache(store):
    assert store.get_translation("k", "ru", "en") is None
    store.put_translation("k", "ru", "en", "hello", "libre")
    assert store.get_translation("k", "ru", "en") == "hello"


def _claim_all(path, worker, out):
    s = SQLiteStore(path)
    got = []
    while True:
        items = s.claim_alerts(worker, limit=3)
        if not items:
            break
        for i in items:
            got.append(i.alert.id)
            s.mark_sent(i.alert.id, worker, None, False)
    s.close()
    out.put(got)


def test_two_processes_never_claim_the_same_alert(tmp_path):
    path = tmp_path / "shared.db"
    s = SQLiteStore(path)
    ids = {s.enqueue_alert(alert(post(str(i)))) for i in range(60)}
    s.close()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(path, f"w{n}", out)) for n in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    claimed = results[0] + results[1]
    assert sorted(claimed) == sorted(ids)  # every alert once, none twice


def test_a_version_1_database_is_upgraded_in_place(tmp_path):
    import sqlite3

    from bot.storage.migrate import migrations
    from bot.storage.sqlite import _split_sql

    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    version, _, sql = migrations()[0]
    assert version == 1
    for statement in _split_sql(sql):
        db.execute(statement)
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.commit()
    db.close()
    s = SQLiteStore(path)  # an older deployment's file, opened by this version
    assert s.schema_version() == latest_version() >= 2
    aid = s.enqueue_alert(alert(post()))
    assert s.claim_alerts("w")[0].alert.id == aid
    s.close()


def test_an_edited_post_updates_its_alerts_and_flags_sent_ones(store):
    sent_id = store.enqueue_alert(alert(post(), room="sent-room"))
    pending_id = store.enqueue_alert(alert(post(), room="pending-room"))
    store.claim_alerts("w", limit=1)
    store.mark_sent(sent_id, "w", "chat:1", translated=True)
    edited = post(text="Обновлено: войска отошли", edited=True)
    assert store.update_alerts_for_edit(edited, Analysis(lang="ru")) == 2
    [update] = store.take_updates()
    assert update.alert.id == sent_id and update.remote_ref == "chat:1"
    assert update.alert.post.text.startswith("Обновлено") and update.alert.translation is None
    assert store.take_updates() == []  # taken once
    [pending] = store.claim_alerts("w")
    assert pending.alert.id == pending_id and pending.alert.post.text.startswith("Обновлено")
