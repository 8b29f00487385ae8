"""Story grouping wired into the pipeline: which posts get a story, from which settings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.bootstrap import App, build_engine, build_grouper
from bot.model import Post, Room, Subscription
from bot.pipeline.runner import Pipeline
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
    semantic = build_grouper(Settings())
    assert semantic is not None and semantic.embedder is not None


def test_only_posts_a_room_receives_get_a_story(engine, store):
    counting = CountingEmbedder()
    pipeline = Pipeline(store, engine.analyzer, StoryGrouper(StoryConfig(), counting))
    noise = pipeline.process(post("a", 1, "Курс рубля к доллару упал на 3 рубля, сообщил ЦБ"))
    assert noise.matches == () and noise.story is None
    first = pipeline.process(post("a", 2, WIRE))
    copy = pipeline.process(post("b", 9, "⚡️" + WIRE + "\n\nПодписаться", 5))
    assert first.story is not None and first.story.new
    assert first.story.story == first.post.key
    assert copy.story is not None and copy.story.story == first.post.key
    assert copy.story.reason == "duplicate"
    assert len(pipeline.grouper) == 2  # the noise post never reached grouping
    assert counting.texts == []


def test_a_post_seen_again_keeps_its_story(engine, store):
    pipeline = Pipeline(store, engine.analyzer, StoryGrouper(StoryConfig(use_embeddings=False)))
    first = pipeline.process(post("a", 2, WIRE))
    again = pipeline.process(post("a", 2, WIRE + " Обновлено.", 1))
    assert again.story is not None and again.story.story == first.post.key


def test_semantic_grouping_runs_off_the_event_loop(engine, tmp_path):
    """With the sentence model on, intake runs the pipeline in a worker thread, one post at a
    time, so a slow embedding never stalls the loop (chat commands, the relay)."""
    settings = parse_settings(f"storage: {{path: {tmp_path / 'x.db'}}}")
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
