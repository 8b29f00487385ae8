"""The pipeline against the real store and engine: what is stored, alerted, detected."""

import pytest

from bot.bootstrap import build_engine
from bot.model import Post, Room, Subscription
from bot.pipeline.runner import Pipeline
from bot.settings import Settings
from bot.storage.sqlite import SQLiteStore


@pytest.fixture(scope="module")
def engine():
    return build_engine(Settings())


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "p.db")
    for room in ("newsroom", "desk"):
        s.upsert_room(Room(room, "console", room, None, "en"))
    s.add_subscription(Subscription("nk-kursk", "newsroom", "entity:north_korea AND entity:kursk"))
    s.add_subscription(Subscription("kursk", "newsroom", "entity:kursk"))
    s.add_subscription(Subscription("war", "desk", "topic:conflict"))
    yield s
    s.close()


def post(mid, text, **kw):
    return Post("gur", "telegram", "-1001", str(mid), text, **kw)


def test_noise_is_stored_without_language_detection(engine, store):
    outcome = Pipeline(store, engine.analyzer).process(post(1, "Курс рубля к доллару упал"))
    assert outcome.matches == () and outcome.alert_ids == ()
    assert outcome.analysis.lang is None  # no room wants it: no detection spent
    assert store.get_post(outcome.post.key).lang is None


def test_match_detects_language_and_alerts_each_room_once(engine, store):
    pipeline = Pipeline(store, engine.analyzer)
    outcome = pipeline.process(post(2, "Северокорейские войска вступили в бой в Курской области"))
    rooms = {room for room, _ in outcome.matches}
    assert rooms == {"newsroom", "desk"}
    assert len(outcome.alert_ids) == 2  # two subscriptions in newsroom, still one alert there
    assert outcome.analysis.lang == "ru"
    items = store.claim_alerts("w", limit=10)
    assert sorted(i.alert.room_id for i in items) == ["desk", "newsroom"]
    newsroom = next(i for i in items if i.alert.room_id == "newsroom")
    assert newsroom.alert.subscription_id == "nk-kursk"
    assert [m.entity_id for m in newsroom.alert.analysis.mentions] == ["north_korea", "kursk"]


def test_edit_that_newly_matches_alerts_once(engine, store):
    pipeline = Pipeline(store, engine.analyzer)
    first = pipeline.process(post(3, "Военные учения прошли по плану"))
    assert first.alert_ids == ()
    edited = pipeline.process(post(3, "Военные учения КНДР прошли в Курской области", edited=True))
    assert len(edited.alert_ids) == 2
    again = pipeline.process(post(3, "Военные КНДР в Курской области: обновлено", edited=True))
    assert again.alert_ids == ()
    same = pipeline.process(post(3, "Военные КНДР в Курской области: обновлено", edited=True))
    assert same.alert_ids == ()
    stored = store.get_post(post(3, "").key)
    assert stored.post.text.endswith("обновлено") and stored.post.edited
    assert store.outbox_counts()["pending"] == 2


def test_paused_subscription_is_silent(engine, store):
    store.set_subscription_paused("desk", "war", True)
    outcome = Pipeline(store, engine.analyzer).process(post(4, "Северокорейские войска в Курской области"))
    assert {room for room, _ in outcome.matches} == {"newsroom"}


def test_changes_from_another_process_are_picked_up(engine, store, tmp_path):
    pipeline = Pipeline(store, engine.analyzer)
    other = SQLiteStore(tmp_path / "p.db")  # e.g. a second worker handling /subscribe
    other.add_subscription(Subscription("putin", "desk", "entity:putin"))
    other.close()
    pipeline.refresh()
    outcome = pipeline.process(post(5, "Путин провёл совещание"))
    assert ("desk", "putin") in outcome.matches


def test_hostile_text_is_stored_not_lost(engine, store):
    pipeline = Pipeline(store, engine.analyzer)
    text = "Курск\ud800 \x00 <script>alert(1)</script> e\u0301" + "\u200b" * 1000
    outcome = pipeline.process(post(6, text))
    stored = store.get_post(outcome.post.key)
    assert "\ufffd" in stored.post.text and "é" in stored.post.text
    assert "kursk" in stored.entities


def test_large_post_is_processed(engine, store):
    text = "Северокорейские войска в Курской области. " * 5000  # ~210 KB
    outcome = Pipeline(store, engine.analyzer).process(post(7, text))
    assert outcome.alert_ids
