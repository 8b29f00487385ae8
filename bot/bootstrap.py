"""This module contains the composition root: it alone picks and wires the parts.

`build_engine` makes the pure analysis engine (enough for `analyze`); `App` adds the store,
translator, platforms, relay and sources for `run`, `demo` and `replay`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.intake import Intake
from bot.model import Post, Room, Subscription
from bot.pipeline.entities import Tagger, Watchlist
from bot.pipeline.language import LanguageDetector
from bot.pipeline.runner import Analyzer, Outcome, Pipeline
from bot.pipeline.stories import Stories
from bot.pipeline.topics import Topics
from bot.ports import Platform, SourceRecord, Store, Translator
from bot.relay import Relay
from bot.render import EntityLabel, Renderer
from bot.settings import RoomSettings, Settings, SourceSettings
from bot.sources.health import HealthBoard
from bot.sources.silence import SilenceWatch
from bot.storage import open_store
from bot.stories import E5Embedder, StoryConfig, StoryGrouper
from handlers import Services

log = logging.getLogger(__name__)


@dataclass
class Engine:
    watchlist: Watchlist
    tagger: Tagger
    topics: Topics
    detector: LanguageDetector
    analyzer: Analyzer
    renderer: Renderer


def build_engine(settings: Settings) -> Engine:
    """Load the watchlists and detectors named by the settings (bundled ones by default)."""
    watchlist = Watchlist.load(settings.entities)
    tagger = Tagger(watchlist)
    topics = Topics.load(settings.topics, known_entities=set(watchlist.ids))
    detector = LanguageDetector(settings.languages.candidates, settings.languages.min_confidence)
    renderer = Renderer({e.id: EntityLabel(e.id, e.name, e.hashtag) for e in watchlist})
    return Engine(watchlist, tagger, topics, detector, Analyzer(tagger, topics, detector), renderer)


def build_stories(settings: Settings) -> Stories | None:
    """The pipeline's story stage (None with `stories.enabled: false`)."""
    grouper = build_grouper(settings)
    if grouper is None:
        return None
    return Stories(grouper, edit_interval=settings.stories.edit_interval)


def build_grouper(settings: Settings) -> StoryGrouper | None:
    """One story grouper per process (None with `stories.enabled: false`). The sentence
    model loads on the first post that needs it, not here."""
    st = settings.stories
    if not st.enabled:
        return None
    config = StoryConfig(window=timedelta(seconds=st.window), use_embeddings=st.semantic)
    return StoryGrouper(config, E5Embedder() if st.semantic else None)


def room_from_settings(rs: RoomSettings) -> Room:
    chat = {"telegram": rs.chat, "discord": rs.channel, "webhook": rs.url_env}.get(rs.platform)
    return Room(rs.id, rs.platform, str(chat if chat is not None else rs.id),
                str(rs.thread) if rs.thread is not None else None, rs.language)


def source_address(ss: SourceSettings) -> str:
    return str({"telegram": ss.chat, "discord": ss.channel, "telegram_public": ss.username,
                "rss": ss.url}[ss.platform])


def seed(store: Store, settings: Settings) -> None:
    """Copy rooms, subscriptions and sources from the file into the store, once each: what a
    moderator later changes or removes in chat stays changed across restarts."""
    with store.transaction():
        for rs in settings.rooms:
            room = room_from_settings(rs)
            existing = store.find_room(room.platform, room.chat, room.thread)
            if existing is not None and existing.id != room.id:
                # A chat that moderators used before it was in the file: it becomes this room.
                log.info("room %s is the chat room %s made in chat; renaming it", rs.id, existing.id)
                store.rename_room(existing.id, room.id)
            # Address and platform follow the file; the language may have been changed in chat.
            store.upsert_room(room, keep_language=not store.seed_once("room", rs.id))
            for sub in rs.subscriptions:
                if store.seed_once("subscription", f"{rs.id}/{sub.id}"):
                    added = store.add_subscription(
                        Subscription(sub.id, rs.id, sub.query, created_by="config"), replace=False)
                    if not added:
                        log.warning("room %s already has a subscription %s made in chat; the "
                                    "file's one is not applied", rs.id, sub.id)
        for ss in settings.sources:
            if store.seed_once("source", ss.id):
                store.add_source(SourceRecord(ss.id, ss.platform, source_address(ss), ss.name),
                                 actor="config")


def _platform_state(platform: Platform) -> str:
    state = getattr(platform, "health", None)
    return str(state() if callable(state) else "running")


@dataclass
class App:
    """Everything `run` needs, opened together and closed together."""

    settings: Settings
    engine: Engine
    store: Store
    pipeline: Pipeline
    translator: Translator
    platforms: dict[str, Platform] = field(default_factory=dict)
    relay: Relay | None = None
    services: Services | None = None
    source_health: HealthBoard = field(default_factory=HealthBoard)
    silence: SilenceWatch = field(default_factory=SilenceWatch)  # flags silent/failing sources
    intake: Intake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = Intake(self.pipeline, on_alerts=self._wake_relay)

    def _wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake.set()

    @classmethod
    def open(cls, settings: Settings, *, store: Store | None = None,
             translator: Translator | None = None, engine: Engine | None = None) -> App:
        engine = engine or build_engine(settings)
        store = store or open_store(settings.storage)
        seed(store, settings)
        if translator is None:
            # Here, not at import: `analyze` needs only build_engine, not the translator stack.
            from bot.pipeline.translate import Translator as ChainTranslator

            translator = ChainTranslator(settings.translation, cache=store)
        stories = build_stories(settings)
        if stories is not None and not hasattr(store, "link_story"):
            # An engine without the story methods of the Store port (a future one).
            log.warning("story grouping is off: the %s store does not keep stories yet",
                        getattr(store, "dialect", "configured"))
            stories = None
        if stories is not None:
            stories.restore(store)
        app = cls(settings, engine, store, Pipeline(store, engine.analyzer, stories), translator)
        app.services = Services(
            store=store, pipeline=app.pipeline, watchlist=engine.watchlist, topics=engine.topics,
            translator=translator, watched_languages=tuple(settings.languages.candidates),
            health=app.health,
            source_kinds=tuple(kind for kind, on in (
                ("telegram", settings.telegram is not None),
                ("discord", settings.discord is not None),
                ("telegram_public", True), ("rss", True)) if on),
        )
        return app

    def attach(self, platforms: Mapping[str, Platform], worker: str | None = None) -> Relay:
        self.platforms.update(platforms)
        self.relay = Relay(self.store, self.platforms, self.translator, worker=worker,
                           alert_wait=self.settings.translation.alert_wait,
                           lease=self.settings.delivery.lease,
                           max_attempts=self.settings.delivery.max_attempts,
                           stale_after=self.settings.delivery.stale_after)
        return self.relay

    async def ingest(self, post: Post, *, wait: bool = True) -> Outcome | None:
        """Entry point for every source: never raises, so one bad post cannot stop a source.

        While the store cannot write, posts are held in order (see `bot.intake`): a polled
        source keeps the default `wait=True` and returns once its post is stored, so its
        cursor never passes an unstored post; chat sources pass `wait=False`."""
        return await self.intake.ingest(post, wait=wait)

    def health(self) -> dict[str, Any]:
        return {
            "sources": dict(self.source_health),
            "silence": self.silence.flags(),
            "translation": self.translator.health(),
            "platforms": {name: _platform_state(p) for name, p in self.platforms.items()},
            "storage": self.intake.health(),
        }

    async def aclose(self, before_store_close: Callable[[], None] | None = None) -> None:
        await self.intake.aclose()
        if self.relay is not None:
            await self.relay.aclose()
        for platform in self.platforms.values():
            try:
                await platform.stop()
            except Exception:
                log.warning("stopping %s failed", platform.name, exc_info=True)
        await self.translator.aclose()
        await asyncio.sleep(0)
        if before_store_close is not None:
            before_store_close()
        self.store.close()
