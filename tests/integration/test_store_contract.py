"""The store contract: what every storage engine must do, written against the Store port only.

Each test takes `store` (a fresh store) or `engine` (to open, reopen and upgrade stores) and is
run once per engine in ENGINES: SQLite in a tmp dir, and PostgreSQL on the server the tests
start themselves (`tests/pg.py`; skipped, with the reason, where it cannot start).
Engine-specific faults (a full disk, a lock) are in test_store_faults.py.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import StorageError
from bot.model import Alert, Analysis, Mention, Post, Room, SourceRef, Subscription
from bot.pipeline.query import parse
from bot.ports import SourceRecord, Store, StoryLink, StoryRoom
from bot.storage import open_store
from bot.storage.migrate import latest_version
from handlers.finder import find_posts, stored_doc
from tests.pg import fresh_url


class Engine:
    """How the contract opens stores of one engine; `locator` names the database."""

    name = ""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path

    @property
    def locator(self) -> str:
        raise NotImplementedError

    def open(self, *, schema: int | None = None) -> Store:
        """The store at `locator`, migrated to the newest version (or only to `schema`)."""
        raise NotImplementedError


class SQLiteEngine(Engine):
    name = "sqlite"

    @property
    def locator(self) -> str:
        return str(self.tmp_path / "contract.db")

    def open(self, *, schema: int | None = None) -> Store:
        if schema is None:
            return open_store(self.locator)  # the entry points' way
        from bot.storage.sqlite import SQLiteStore

        return SQLiteStore(self.locator, schema=schema)


class PostgresEngine(Engine):
    name = "postgres"

    def __init__(self, tmp_path) -> None:
        super().__init__(tmp_path)
        self.url = fresh_url()  # an empty database (skips when no server can start)

    @property
    def locator(self) -> str:
        return self.url

    def open(self, *, schema: int | None = None) -> Store:
        if schema is None:
            return open_store(self.locator)
        from bot.storage.postgres import PostgresStore

        return PostgresStore(self.locator, schema=schema)


ENGINES = {"sqlite": SQLiteEngine, "postgres": PostgresEngine}


@pytest.fixture(params=sorted(ENGINES))
def engine(request, tmp_path) -> Engine:
    return ENGINES[request.param](tmp_path)


@pytest.fixture
def store(engine):
    s = engine.open()
    yield s
    s.close()


def post(mid="1", text="Северокорейские войска в Курской области", source="gur", **kw) -> Post:
    return Post(source_id=source, platform="telegram", chat="-1001", message_id=str(mid),
                text=text, **kw)


KURSK = Analysis(mentions=(Mention("kursk", "Курской", 29, 36),), topics=("conflict",),
                 lang="ru", lang_confidence=0.97)


def alert(p: Post, room="newsroom", sub="nk-kursk") -> Alert:
    return Alert(p, room, sub, Analysis(lang="ru", lang_confidence=0.99))


# -- posts ----------------------------------------------------------------------------------


def test_a_post_is_saved_once_and_read_back_whole(store):
    date = datetime(2024, 11, 5, 8, 30, tzinfo=UTC)
    p = post(author="ГУР", url="https://t.me/gur/1", origin="forwarded", date=date)
    first = store.save_post(p, KURSK)
    assert first.new and first.changed
    again = store.save_post(p, KURSK)
    assert (again.post_id, again.new, again.changed) == (first.post_id, False, False)
    sp = store.get_post(p.key)
    assert sp.id == first.post_id and sp.post == p and sp.post.date == date
    assert (sp.lang, sp.lang_confidence) == ("ru", 0.97)
    assert sp.entities == ("kursk",) and sp.topics == ("conflict",)
    assert store.post_mentions(sp.id) == [Mention("kursk", "Курской", 29, 36)]
    assert store.get_post("gur:-1001:404") is None
    assert store.count_posts() == 1


def test_an_edit_replaces_text_tags_and_mentions(store):
    first = store.save_post(post(), KURSK)
    edited = store.save_post(post(text="Обновлено: войска отошли", edited=True),
                             Analysis(mentions=(Mention("ukraine", "войска", 11, 17),)))
    assert edited.changed and not edited.new and edited.post_id == first.post_id
    sp = store.get_post(post().key)
    assert sp.post.text.startswith("Обновлено") and sp.post.edited
    assert sp.entities == ("ukraine",) and sp.topics == ()
    assert store.post_mentions(sp.id) == [Mention("ukraine", "войска", 11, 17)]
    assert store.count_posts() == 1


def test_a_post_without_language_gets_one_later(store):
    sp_id = store.save_post(post(), Analysis()).post_id
    assert store.get_post(post().key).lang is None
    store.set_post_language(sp_id, "ru", 0.8)
    assert (store.get_post(post().key).lang, store.get_post(post().key).lang_confidence) == ("ru", 0.8)


def test_recent_posts_newest_first_with_since_limit_and_paging(store):
    old = datetime.now(UTC) - timedelta(days=3)
    for i in range(1, 8):
        store.save_post(post(i, date=old) if i == 1 else post(i), Analysis())
    assert [p.post.message_id for p in store.recent_posts()] == ["7", "6", "5", "4", "3", "2", "1"]
    since = datetime.now(UTC) - timedelta(hours=24)
    assert "1" not in [p.post.message_id for p in store.recent_posts(since=since)]
    page = store.recent_posts(limit=3)
    assert [p.post.message_id for p in page] == ["7", "6", "5"]
    rest = store.recent_posts(limit=10, before_id=page[-1].id)
    assert [p.post.message_id for p in rest] == ["4", "3", "2", "1"]


# -- search ---------------------------------------------------------------------------------

CORPUS = [
    ("gur", "Северокорейские войска в Курской области", KURSK),
    ("gur", "Войска КНДР у Курска, war news", Analysis(lang="ru", lang_confidence=0.9)),
    ("rybar", "Курс рубля вырос", Analysis(lang="ru", lang_confidence=0.9)),
    ("kyiv", "Nordkoreanische Truppen in der Region Kursk", Analysis(
        mentions=(Mention("kursk", "Kursk", 38, 43),), lang="de", lang_confidence=0.9)),
    ("kyiv", "North Korean troops near Kursk", Analysis()),  # language unknown
    ("Gur", "Ёлка на площади", Analysis(lang="ru", lang_confidence=0.9)),
]
QUERIES = [
    "kursk", "войск*", '"war news"', "курская", "елка", "entity:kursk", "NOT entity:kursk",
    "topic:conflict", "source:gur", "source:kyiv AND NOT lang:de", "lang:ru", "NOT lang:ru",
    "lang:en OR source:rybar", "NOT kursk", "entity:kursk OR lang:ru", "(kursk OR курск*) NEAR/3 войск*",
    "NOT (source:gur OR lang:de)", "troops AND NOT entity:kursk",
]


@pytest.fixture
def corpus(store):
    for i, (source, text, analysis) in enumerate(CORPUS):
        store.save_post(post(i, text, source=source), analysis)
    return store


@pytest.mark.parametrize("text", QUERIES)
def test_search_candidates_hold_every_hit_and_the_exact_search_finds_them(corpus, text):
    query = parse(text)
    everything = corpus.recent_posts(limit=100)
    expected = [sp.id for sp in everything if query.evaluate(stored_doc(sp))]
    candidates = [sp.id for sp in corpus.search_posts(query, limit=100)]
    assert set(expected) <= set(candidates)  # a prefilter never drops a hit
    assert candidates == sorted(candidates, reverse=True)  # newest first
    assert [sp.id for sp in find_posts(corpus, query, limit=100)] == expected


@pytest.mark.parametrize(("text", "most"), [
    ("entity:kursk", 2), ("source:kyiv", 2), ("lang:de", 2), ('"war news"', 1),
    ("NOT entity:kursk", 4), ("source:gur AND NOT topic:conflict", 2),
    ("войска OR lang:de", 4), ("entity:kursk OR rubles", 2),
])
def test_search_is_narrowed_by_the_engine(corpus, text, most):
    """Fields and words are filtered by the engine, not by scanning every post in Python
    (`lang:de` also lets the post of unknown language through, to be detected)."""
    assert len(corpus.search_posts(parse(text), limit=100)) <= most


def test_search_pages_by_id_and_respects_since(corpus):
    query = parse("NOT rubles")
    first = corpus.search_posts(query, limit=2)
    second = corpus.search_posts(query, limit=10, before_id=first[-1].id)
    assert len(first) == 2 and len(first) + len(second) == len(CORPUS)
    assert max(sp.id for sp in second) < min(sp.id for sp in first)
    assert corpus.search_posts(query, since=datetime.now(UTC) + timedelta(hours=1)) == []


def test_search_follows_edits(store):
    store.save_post(post(1, "первый текст"), Analysis())
    store.save_post(post(1, "второй вариант", edited=True), Analysis())
    assert store.search_posts(parse('"первый"')) == []
    assert len(store.search_posts(parse('"второй"'))) == 1


def test_odd_queries_never_break_the_engine(corpus):
    for text in ['"a b" OR NOT "c d"', "NEAR NEAR/2 x", "a* b* c* d* e*", '"""', "((((x))))",
                 "entity:a.b-c OR topic:x_y", "-kursk", "source:-1001"]:
        try:
            query = parse(text)
        except ValueError:
            continue
        assert isinstance(corpus.search_posts(query), list)


# -- translation cache ----------------------------------------------------------------------


def test_translation_cache(store):
    assert store.get_translation("k", "ru", "en") is None
    store.put_translation("k", "ru", "en", "hello", "libre")
    store.put_translation("k", "ru", "de", "hallo", "libre")
    assert store.get_translation("k", "ru", "en") == "hello"
    store.put_translation("k", "ru", "en", "hi", "google")
    assert store.get_translation("k", "ru", "en") == "hi"


# -- rooms, subscriptions, keywords, sources, revision ---------------------------------------


def test_rooms_upsert_find_and_language(store):
    room = store.upsert_room(Room("newsroom", "telegram", "-1002", None, "en"))
    assert room == Room("newsroom", "telegram", "-1002", None, "en")
    store.upsert_room(Room("forum", "telegram", "-1002", "7", "uk"))
    store.set_room_language("newsroom", "de")
    assert store.upsert_room(Room("newsroom", "telegram", "-1002", None, "en")).language == "de"
    assert store.upsert_room(Room("newsroom", "telegram", "-1002", None, "en"),
                             keep_language=False).language == "en"
    assert store.find_room("telegram", "-1002").id == "newsroom"
    assert store.find_room("telegram", "-1002", "7").id == "forum"
    assert store.find_room("discord", "-1002") is None
    assert [r.id for r in store.rooms()] == ["forum", "newsroom"]
    assert store.get_room("nowhere") is None


def test_subscriptions_add_replace_pause_remove(store):
    store.upsert_room(Room("newsroom", "telegram", "-1002"))
    assert store.add_subscription(Subscription("nk", "newsroom", "entity:kursk", created_by="t"))
    assert not store.add_subscription(Subscription("nk", "newsroom", "other"), replace=False)
    assert store.subscriptions("newsroom")[0].query == "entity:kursk"
    store.add_subscription(Subscription("nk", "newsroom", "entity:kursk AND troops"))
    assert store.subscriptions("newsroom")[0].query == "entity:kursk AND troops"
    assert store.set_subscription_paused("newsroom", "nk", True)
    assert store.subscriptions()[0].paused and store.subscriptions()[0].created_by == "t"
    assert not store.set_subscription_paused("newsroom", "none", True)
    assert store.remove_subscription("newsroom", "nk")
    assert not store.remove_subscription("newsroom", "nk")
    assert store.subscriptions() == []


def test_keywords_keep_their_variants(store):
    store.upsert_room(Room("newsroom", "telegram", "-1002"))
    assert store.add_keyword("newsroom", "casualties", ["потери", "втрати"], actor="t")
    store.add_keyword("newsroom", "casualties")  # None: keep what it has
    assert store.keywords("newsroom")[0].variants == ("потери", "втрати")
    store.add_keyword("newsroom", "casualties", ["жертвы"])
    assert store.keywords()[0].variants == ("жертвы",)
    assert store.remove_keyword("newsroom", "casualties")
    assert not store.remove_keyword("newsroom", "casualties") and store.keywords() == []


def test_sources_and_cursors(store):
    assert store.add_source(SourceRecord("rybar", "telegram_public", "rybar", "Рыбарь"))
    assert not store.add_source(SourceRecord("rybar", "telegram_public", "other"))
    assert store.get_cursor("rybar") is None
    store.set_cursor("rybar", "120")
    assert store.get_cursor("rybar") == "120"
    [source] = store.sources()
    assert (source.id, source.address, source.name, source.enabled, source.cursor) == (
        "rybar", "rybar", "Рыбарь", True, "120")
    assert store.get_cursor("nowhere") is None
    assert store.remove_source("rybar") and store.sources() == []


def test_seed_once(store):
    assert store.seed_once("room", "newsroom")
    assert not store.seed_once("room", "newsroom")
    assert store.seed_once("subscription", "newsroom")


def test_every_config_change_bumps_the_revision(store):
    changes = [
        lambda: store.upsert_room(Room("newsroom", "telegram", "-1002")),
        lambda: store.set_room_language("newsroom", "de"),
        lambda: store.add_subscription(Subscription("nk", "newsroom", "kursk")),
        lambda: store.set_subscription_paused("newsroom", "nk", True),
        lambda: store.add_keyword("newsroom", "kursk"),
        lambda: store.remove_keyword("newsroom", "kursk"),
        lambda: store.add_source(SourceRecord("rybar", "telegram_public", "rybar")),
        lambda: store.remove_source("rybar"),
        lambda: store.remove_subscription("newsroom", "nk"),
        lambda: store.rename_room("newsroom", "desk"),
    ]
    for change in changes:
        before = store.revision()
        change()
        assert store.revision() > before


def test_rename_moves_everything_and_merge_keeps_the_target(store):
    store.upsert_room(Room("old", "telegram", "-1", None, "uk"))
    store.add_subscription(Subscription("a", "old", "kursk"))
    store.add_subscription(Subscription("b", "old", "troops"))
    store.add_keyword("old", "casualties", ["потери"])
    aid = store.enqueue_alert(alert(post(1), room="old"))
    store.rename_room("old", "new")
    assert store.get_room("old") is None
    new = store.get_room("new")
    assert (new.platform, new.chat, new.language) == ("telegram", "-1", "uk")
    assert [s.id for s in store.subscriptions("new")] == ["a", "b"]
    assert store.keywords("new")[0].variants == ("потери",)
    [item] = store.alerts_for_room("new")
    assert item.alert.id == aid and item.alert.room_id == "new"
    assert store.enqueue_alert(alert(post(1), room="new")) is None  # its dedup key moved too

    store.upsert_room(Room("target", "telegram", "-2", None, "en"))
    store.add_subscription(Subscription("a", "target", "kept"))
    store.rename_room("new", "target")  # merge: on a clash, what the target has wins
    assert {s.id: s.query for s in store.subscriptions("target")} == {"a": "kept", "b": "troops"}
    assert store.get_room("target").chat == "-2" and store.get_room("new") is None
    assert [r.id for r in store.rooms()] == ["target"]


# -- alerts and the outbox -----------------------------------------------------------------


def test_an_alert_is_unique_per_post_and_room(store):
    p = post()
    assert store.enqueue_alert(alert(p)) is not None
    assert store.enqueue_alert(alert(p, sub="other")) is None  # same (post, room)
    assert store.enqueue_alert(alert(p, room="other")) is not None
    assert store.outbox_counts() == {"pending": 2, "sending": 0, "sent": 0, "failed": 0}


def test_claims_are_exclusive_and_a_dead_workers_lease_expires(store):
    aid = store.enqueue_alert(alert(post()))
    [first] = store.claim_alerts("w1", lease=0.3)
    assert first.alert.id == aid and first.attempts == 1 and first.state == "sending"
    assert first.alert.analysis.lang == "ru" and first.alert.post.key == post().key
    assert store.claim_alerts("w2") == []  # leased to w1
    time.sleep(0.35)
    [second] = store.claim_alerts("w2", lease=30)
    assert second.alert.id == aid and second.attempts == 2
    assert not store.mark_sent(aid, "w1", "ref", False)  # w1 lost its lease
    assert store.mark_sent(aid, "w2", "chat:5", True)
    assert store.claim_alerts("w3") == []
    [sent] = store.alerts_for_room("newsroom")
    assert (sent.state, sent.remote_ref, sent.translated) == ("sent", "chat:5", True)


def test_claims_come_oldest_first_up_to_the_limit(store):
    ids = [store.enqueue_alert(alert(post(i))) for i in range(5)]
    assert [i.alert.id for i in store.claim_alerts("w", limit=3)] == ids[:3]
    assert [i.alert.id for i in store.claim_alerts("w", limit=3)] == ids[3:]


def test_renewing_a_lease_keeps_the_claim(store):
    aid = store.enqueue_alert(alert(post()))
    store.claim_alerts("w1", lease=0.3)
    assert store.renew_claim(aid, "w1", lease=30)
    time.sleep(0.35)
    assert store.claim_alerts("w2") == []  # renewed: still w1's
    assert not store.renew_claim(aid, "w2", lease=30)


def test_released_claims_are_due_again_after_the_delay(store):
    aid = store.enqueue_alert(alert(post()))
    store.claim_alerts("w1")
    assert store.release_claims("w2", [aid]) == 0  # not its claim
    assert store.release_claims("w1", []) == 0
    assert store.release_claims("w1", [aid], delay=0.3) == 1
    assert store.outbox_counts()["pending"] == 1
    assert store.claim_alerts("w2") == []
    time.sleep(0.35)
    [item] = store.claim_alerts("w2")
    assert item.alert.id == aid and item.attempts == 1  # a release is not an attempt


def test_a_retry_waits_and_a_failure_stays_failed(store):
    aid = store.enqueue_alert(alert(post()))
    store.claim_alerts("w")
    store.mark_retry(aid, "w", "429 Too Many Requests", delay=0.3)
    assert store.claim_alerts("w") == []
    time.sleep(0.35)
    [item] = store.claim_alerts("w")
    assert item.last_error == "429 Too Many Requests" and item.attempts == 2
    store.mark_failed(aid, "w", "403 Forbidden")
    assert store.claim_alerts("w") == [] and store.outbox_counts()["failed"] == 1
    assert store.alerts_for_room("newsroom")[0].last_error == "403 Forbidden"


def test_a_late_translation_is_recorded_unless_the_text_changed(store):
    aid = store.enqueue_alert(alert(post()))
    assert not store.mark_translated(aid, "old", of_text="some other text")
    assert store.mark_translated(aid, "North Korean troops in the Kursk region",
                                 of_text=post().text)
    assert not store.mark_translated(999_999, "x")
    [item] = store.claim_alerts("w")
    assert item.alert.translation.startswith("North Korean") and item.translated


def test_an_edit_updates_alerts_and_flags_sent_ones_for_correction(store):
    sent_id = store.enqueue_alert(alert(post(), room="sent-room"))
    pending_id = store.enqueue_alert(alert(post(), room="pending-room"))
    store.claim_alerts("w", limit=1)
    store.mark_sent(sent_id, "w", "chat:1", translated=True)
    edited = post(text="Обновлено: войска отошли", edited=True)
    assert store.update_alerts_for_edit(edited, Analysis(lang="ru")) == 2
    [update] = store.take_updates()
    assert update.alert.id == sent_id and update.remote_ref == "chat:1" and not update.translated
    assert update.alert.post.text.startswith("Обновлено") and update.alert.translation is None
    assert store.take_updates() == []  # taken once
    store.flag_updates([sent_id])  # taken but not tried: flagged again
    assert [u.alert.id for u in store.take_updates()] == [sent_id]
    [pending] = store.claim_alerts("w")
    assert pending.alert.id == pending_id and pending.alert.post.text.startswith("Обновлено")
    assert store.update_alerts_for_edit(post("other"), Analysis()) == 0


# -- stories --------------------------------------------------------------------------------


T1 = datetime(2024, 11, 5, 7, 0, tzinfo=UTC)


def needs_stories(store: Store) -> None:
    """The PostgreSQL engine has the story tables but not yet the methods (bootstrap then
    turns grouping off); these tests apply to an engine once it has them."""
    if not hasattr(store, "link_story"):
        pytest.skip(f"the {store.dialect} store does not keep stories yet")


def test_a_story_sums_up_its_linked_posts_once_each(store):
    needs_stories(store)
    first = StoryLink("gur:-1001:1", "gur:-1001:1", T1, "gur", "ru", ("north_korea", "kursk"),
                      b"\x00\x01")
    later = StoryLink("kyiv:-1002:5", "gur:-1001:1", T1 + timedelta(minutes=9), "kyiv", "uk",
                      ("kursk", "ukraine"))
    assert store.link_story(first) and store.link_story(later)
    assert not store.link_story(later)  # linked once: a repeat changes nothing
    story = store.get_story("gur:-1001:1")
    assert story.first_seen == T1 and story.last_seen == T1 + timedelta(minutes=9)
    assert story.posts == 2 and story.sources == ("gur", "kyiv")
    assert story.languages == ("ru", "uk")
    assert story.entities == ("north_korea", "kursk", "ukraine")
    assert [link.post_key for link in store.story_links("gur:-1001:1")] == [first.post_key,
                                                                          later.post_key]
    assert store.story_links("gur:-1001:1")[0].vector == b"\x00\x01"
    assert store.story_of_post("kyiv:-1002:5") == "gur:-1001:1"
    assert store.story_of_post("nope") is None and store.get_story("nope") is None
    store.set_story_vector("kyiv:-1002:5", b"\x02")
    assert store.story_links("gur:-1001:1")[1].vector == b"\x02"


def test_grouped_posts_of_the_window_come_back_oldest_first_with_their_texts(store):
    needs_stories(store)
    for mid, minutes in (("1", 0), ("2", 600), ("3", 1500)):
        p = post(mid, text=f"Пост {mid}", date=T1 + timedelta(minutes=minutes))
        store.save_post(p, KURSK)
        store.link_story(StoryLink(p.key, post("1").key, p.date, "gur", "ru"))
    since = T1 + timedelta(minutes=500)
    got = store.grouped_since(since)
    assert [(link.post_key, text) for link, text in got] == [(post("2").key, "Пост 2"),
                                                              (post("3").key, "Пост 3")]
    assert got[0][0].date == T1 + timedelta(minutes=600)


def test_a_room_claims_a_story_once(store):
    needs_stories(store)
    aid = store.enqueue_alert(alert(post()))
    room = StoryRoom("gur:-1001:1", "newsroom", "gur:-1001:1", aid)
    store.link_story(StoryLink("gur:-1001:1", "gur:-1001:1", T1, "gur"))
    replayed = StoryRoom("gur:-1001:1", "newsroom", "old:1:1", None)  # history, never queued
    assert store.claim_story_room(replayed)
    assert not store.claim_story_room(StoryRoom("gur:-1001:1", "newsroom", "old:1:2", None))
    assert store.claim_story_room(room)  # the first real alert takes it over
    assert not store.claim_story_room(StoryRoom("gur:-1001:1", "newsroom", "x:1:2", None))
    assert store.story_room("gur:-1001:1", "newsroom") == room
    assert store.story_room("gur:-1001:1", "desk") is None


def test_later_reports_update_an_alert_and_a_sent_one_is_edited_once_after_the_delay(store):
    needs_stories(store)
    sent = store.enqueue_alert(alert(post()))
    pending = store.enqueue_alert(alert(post(), room="desk"))
    store.claim_alerts("w", limit=1)
    store.mark_sent(sent, "w", "chat:1", translated=False)
    kyiv = SourceRef("kyiv", "https://t.me/kyiv/5", "kyiv:-1002:5")
    assert store.add_alert_source(pending, kyiv, delay=30)
    assert store.take_updates() == []  # a pending alert is sent with its sources: no edit
    [item] = store.claim_alerts("w")
    assert item.alert.extra_sources == 1 and item.alert.also == (kyiv,)
    assert store.add_alert_source(sent, kyiv, delay=0.3)
    assert not store.add_alert_source(sent, kyiv, delay=0.3)  # the same report again: ignored
    assert store.add_alert_source(sent, SourceRef("rbc", None, "rbc:-1003:7"), delay=0.3)
    assert store.take_updates() == []  # coalesced: not before the delay
    time.sleep(0.35)
    [update] = store.take_updates()
    assert update.alert.id == sent and update.alert.extra_sources == 2
    assert [a.source for a in update.alert.also] == ["kyiv", "rbc"]
    assert store.take_updates() == []  # applied once
    assert not store.add_alert_source(9999, kyiv)


def test_an_edit_keeps_an_alerts_story_sources(store):
    needs_stories(store)
    aid = store.enqueue_alert(alert(post()))
    store.add_alert_source(aid, SourceRef("kyiv", None, "kyiv:-1002:5"))
    store.update_alerts_for_edit(post(text="правка", edited=True), Analysis())
    [item] = store.claim_alerts("w")
    assert item.alert.post.text == "правка" and item.alert.extra_sources == 1


def _claim_all(locator, worker, out):
    s = open_store(locator)
    got = []
    while items := s.claim_alerts(worker, limit=3):
        for i in items:
            got.append(i.alert.id)
            s.mark_sent(i.alert.id, worker, None, False)
    s.close()
    out.put(got)


def test_two_processes_never_claim_the_same_alert(engine):
    s = engine.open()
    ids = {s.enqueue_alert(alert(post(str(i)))) for i in range(60)}
    s.close()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(engine.locator, f"w{n}", out)) for n in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sorted(results[0] + results[1]) == sorted(ids)  # every alert once, none twice


# -- audit, transactions, migrations --------------------------------------------------------


def test_audit_log_newest_first(store):
    store.audit("telegram:1", "subscribe", "newsroom", id="nk", query="entity:kursk")
    store.audit("telegram:2", "pause", None)
    first, second = store.audit_log()
    assert (first.actor, first.action, first.room_id, first.detail) == ("telegram:2", "pause", None, {})
    assert (second.room_id, second.detail) == ("newsroom", {"id": "nk", "query": "entity:kursk"})
    assert second.at <= first.at and len(store.audit_log(limit=1)) == 1


def test_a_failed_transaction_leaves_nothing_and_nesting_joins_it(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.save_post(post(1), KURSK)
        with store.transaction():
            store.enqueue_alert(alert(post(1)))
        raise RuntimeError("a bug mid-batch")
    assert store.count_posts() == 0 and store.outbox_counts()["pending"] == 0
    with store.transaction():
        store.save_post(post(2), KURSK)
        with store.transaction():
            store.save_post(post(3), KURSK)
    assert store.count_posts() == 2


def test_storage_error_is_the_engines_failure_type():
    assert issubclass(StorageError, Exception) and StorageError("x").transient
    assert not StorageError("x", transient=False).transient


def test_a_new_store_is_at_the_newest_schema_and_reopening_keeps_data(engine):
    s = engine.open()
    assert s.schema_version() == latest_version()
    s.upsert_room(Room("newsroom", "telegram", "-1002"))
    s.save_post(post(), KURSK)
    s.close()
    again = engine.open()  # migrations are not re-applied
    assert again.schema_version() == latest_version()
    assert again.get_room("newsroom") and again.count_posts() == 1
    again.close()


def test_an_old_database_is_upgraded_in_place(engine):
    old = engine.open(schema=1)  # what the first release created
    assert old.schema_version() == 1
    old.save_post(post(), KURSK)
    aid = old.enqueue_alert(alert(post()))
    old.close()
    s = engine.open()
    assert s.schema_version() == latest_version() >= 3
    s.upsert_room(Room("newsroom", "telegram", "-1002"))  # the revision counter works (3)
    assert s.revision() == 1 and s.get_post(post().key).entities == ("kursk",)
    assert [p.post.key for p in s.search_posts(parse("курской"))] == [post().key]
    [item] = s.claim_alerts("w")
    assert item.alert.id == aid
    s.mark_sent(aid, "w", "chat:1", False)
    assert s.update_alerts_for_edit(post(text="правка", edited=True), Analysis()) == 1
    assert [u.alert.id for u in s.take_updates()] == [aid]  # version 2's column works
    s.close()
