"""Story grouping wired into the pipeline: which posts get a story, from which settings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.bootstrap import App, build_engine, build_grouper
from bot.model import Post, Room, Subscription
from bot.pipeline.runner import Pipeline
from bot.pipeline.stories import Stories
from bot.settings import Settings, parse_settings
from bot.storage.sqlite import SQLiteStore
from bot.stories import StoryConfig, StoryGrouper

T0 = datetime(2024, 11, 5, 7, 0, tzinfo=UTC)
WIRE = ("Жилая многоэтажка эвакуирована в Лобне из-за противопехотной мины под полом у одного из "
        "жильцов. Житель дома на улице Научный городок вскрыл пол в своей квартире и обнаружил "
        "мину, вызваны саперы, эвакуированы 38 человек в Курской области.")


class CountingEmbedder:
    """Refuses to embed: these posts must never need the model."""

    name = "counting"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: list[str]):
        self.texts.extend(texts)
        raise AssertionError("embedded " + repr(texts))


@pytest.fixture(scope="module")
def engine():
    return build_engine(Settings())


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "s.db")
    s.upsert_room(Room("newsroom", "console", "newsroom", None, "en"))
    s.add_subscription(Subscription("kursk", "newsroom", "entity:kursk"))
    yield s
    s.close()


def post(source: str, mid: int, text: str, minutes: float = 0) -> Post:
    return Post(source, "telegram", "-100" + source, str(mid), text,
                date=T0 + timedelta(minutes=minutes))


def test_stories_settings_take_durations():
    assert parse_settings("stories: {window: 30m}").stories.window == 1800
    assert parse_settings("stories: {window: 7200}").stories.window == 7200
    assert parse_settings("stories: {window: 1d, semantic: false}").stories.window == 86400
    with pytest.raises(Exception, match="expected a duration"):
        parse_settings("stories: {window: soon}")


def test_grouper_follows_settings():
    assert build_grouper(parse_settings("stories: {enabled: false}")) is None
    plain = build_grouper(parse_settings("stories: {semantic: false, window: 2h}"))
    assert plain is not None and plain.embedder is None
    assert plain.config.window == timedelta(hours=2)
    assert build_grouper(Settings()).embedder is None  # near-duplicates only by default
    semantic = build_grouper(parse_settings("stories: {semantic: true}"))
    assert semantic is not None and semantic.embedder is not None


def test_only_posts_a_room_receives_get_a_story(engine, store):
    counting = CountingEmbedder()
    pipeline = Pipeline(store, engine.analyzer, Stories(StoryGrouper(StoryConfig(), counting)))
    noise = pipeline.process(post("a", 1, "Курс рубля к доллару упал на 3 рубля, сообщил ЦБ"))
    assert noise.matches == () and noise.story is None
    first = pipeline.process(post("a", 2, WIRE))
    copy = pipeline.process(post("b", 9, "⚡️" + WIRE + "\n\nПодписаться", 5))
    assert first.story is not None and first.story.new
    assert first.story.story == first.post.key
    assert copy.story is not None and copy.story.story == first.post.key
    assert copy.story.reason == "duplicate"
    assert len(pipeline.stories.grouper) == 2  # the noise post never reached grouping
    assert counting.texts == []


def test_a_post_seen_again_keeps_its_story(engine, store):
    pipeline = Pipeline(store, engine.analyzer, Stories(StoryGrouper(StoryConfig(use_embeddings=False))))
    first = pipeline.process(post("a", 2, WIRE))
    again = pipeline.process(post("a", 2, WIRE + " Обновлено.", 1))
    assert again.story is not None and again.story.story == first.post.key


def test_semantic_grouping_runs_off_the_event_loop(engine, tmp_path):
    """With the sentence model on, intake runs the pipeline in a worker thread, one post at a
    time, so a slow embedding never stalls the loop (chat commands, the relay)."""
    settings = parse_settings(f"storage: {{path: {tmp_path / 'x.db'}}}\nstories: {{semantic: true}}")
    app = App.open(settings, engine=engine)
    threads: list[bool] = []
    process = app.pipeline.process

    def spy(p, **kw):
        import threading
        threads.append(threading.current_thread() is threading.main_thread())
        return process(p, **kw)

    app.pipeline.process = spy  # type: ignore[method-assign]
    assert app.pipeline.blocking

    async def main() -> None:
        await asyncio.gather(*(app.ingest(post("a", i, f"Новость {i}")) for i in range(3)))
        await app.aclose()

    asyncio.run(main())
    assert threads == [False, False, False]


def plain_pipeline(store, engine, interval: float = 0.0) -> Pipeline:
    return Pipeline(store, engine.analyzer,
                    Stories(StoryGrouper(StoryConfig(use_embeddings=False)), edit_interval=interval))


def test_a_later_report_joins_the_queued_alert_instead_of_alerting(engine, store):
    pipeline = plain_pipeline(store, engine)
    first = pipeline.process(post("a", 2, WIRE))
    copy = pipeline.process(post("b", 9, "⚡️" + WIRE + "\n\nПодписаться", 5))
    assert len(first.alert_ids) == 1 and first.rooms == ("newsroom",)
    assert copy.alert_ids == () and copy.rooms == () and copy.joined == ("newsroom",)
    [item] = store.claim_alerts("w", limit=10)
    assert item.alert.story_id == first.post.key
    assert item.alert.extra_sources == 1
    assert [(a.source, a.link) for a in item.alert.also] == [("b", "https://t.me/c/b/9")]
    story = store.get_story(first.post.key)
    assert story.posts == 2 and story.sources == ("a", "b")


def test_a_sent_alert_is_flagged_for_one_edit_per_burst(engine, store):
    pipeline = plain_pipeline(store, engine, interval=0.2)
    first = pipeline.process(post("a", 2, WIRE))
    [item] = store.claim_alerts("w")
    store.mark_sent(item.alert.id, "w", "chat:1", translated=False)
    for i, source in enumerate(("b", "c", "d")):
        pipeline.process(post(source, 9, WIRE + f"\n\n{source} · подписаться", 5 + i))
    assert store.take_updates() == []  # coalesced
    import time
    time.sleep(0.25)
    [update] = store.take_updates()
    assert update.alert.id == first.alert_ids[0] and update.alert.extra_sources == 3
    assert store.take_updates() == []


def test_a_room_that_missed_the_first_report_gets_its_own_alert(engine, store):
    store.upsert_room(Room("desk", "console", "desk", None, "en"))
    store.add_subscription(Subscription("lobnya", "desk", "лобня"))
    pipeline = plain_pipeline(store, engine)
    first = pipeline.process(post("a", 2, WIRE.replace("в Лобне", "в городе")))
    copy = pipeline.process(post("b", 9, WIRE, 3))
    assert copy.story.story == first.post.key  # one story...
    assert copy.joined == ("newsroom",) and copy.rooms == ("desk",)  # ...new to desk


def test_a_restarted_pipeline_keeps_its_stories(engine, store):
    first = plain_pipeline(store, engine).process(post("a", 2, WIRE))
    restarted = plain_pipeline(store, engine)
    assert restarted.stories.restore(store, now=T0 + timedelta(hours=1)) == 1
    copy = restarted.process(post("b", 9, WIRE + "\n\nПодписаться", 50))
    assert copy.story.story == first.post.key and copy.alert_ids == ()
    assert copy.joined == ("newsroom",)
    late = plain_pipeline(store, engine)
    assert late.stories.restore(store, now=T0 + timedelta(hours=30)) == 0  # out of the window


def test_stored_vectors_spare_the_model_after_a_restart(engine, store):
    class Fixed:
        name = "fixed"

        def __init__(self) -> None:
            self.calls = 0

        def embed(self, texts):
            import numpy as np
            self.calls += len(texts)
            return np.ones((len(texts), 4), dtype=np.float32) / 2

    fixed = Fixed()
    pipeline = Pipeline(store, engine.analyzer, Stories(StoryGrouper(StoryConfig(), fixed)))
    pipeline.process(post("a", 2, "Северокорейские войска вступили в бой в Курской области"))
    pipeline.process(post("b", 3, "Войска КНДР впервые участвуют в боях в Курской области", 10))
    assert fixed.calls == 2
    links = store.story_links(store.story_of_post(post("a", 2, "").key))
    assert all(link.vector is not None for link in links)
    again = Fixed()
    restarted = Pipeline(store, engine.analyzer, Stories(StoryGrouper(StoryConfig(), again)))
    restarted.stories.restore(store, now=T0 + timedelta(hours=1))
    restarted.process(post("c", 4, "КНДР: войска ведут бои в Курской области", 20))
    assert again.calls == 1  # only the new post: the stored ones came back with their vectors
