"""This module contains the pipeline: post -> normalise -> tag -> topics -> match -> store/outbox.

Language detection runs only for posts some room will receive (or when a query asks `lang:`),
and translation is left to the relay, so a firehose of unrelated posts costs a fold, one
automaton pass and an index lookup each.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass

from bot.errors import BadQuery
from bot.model import Alert, Analysis, Mention, Post
from bot.pipeline.entities import Tagger
from bot.pipeline.language import LanguageDetector
from bot.pipeline.matcher import Matcher
from bot.pipeline.query import Doc, Query, parse
from bot.pipeline.stories import Stories
from bot.pipeline.topics import Topics
from bot.ports import Store
from bot.stories import Assignment
from bot.text import WORD_RE, fold, sanitize

log = logging.getLogger(__name__)

MatchKey = tuple[str, str]
# Keywords are plain words and phrases: quotes, emoji and other symbols are not part of them.
_NOT_KEYWORD_RE = re.compile(r"[^\w\s'\-]")  # (room id, subscription id)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What processing one post did."""

    post: Post
    analysis: Analysis
    matches: tuple[MatchKey, ...]
    alert_ids: tuple[int, ...] = ()
    post_id: int | None = None
    rooms: tuple[str, ...] = ()  # rooms alerted (or that would be, when not enqueued)
    story: Assignment | None = None  # the story the post joined (posts some room receives)
    joined: tuple[str, ...] = ()  # rooms that had the story already: their alert got the post


def keyword_query(keyword: str, variants: tuple[str, ...] = ()) -> Query:
    """A room keyword and its kept translations, as one OR query of exact phrases.
    Raises BadQuery when no term has a word in it."""
    terms = [" ".join(_NOT_KEYWORD_RE.sub(" ", t).split()) for t in (keyword, *variants)]
    terms = [t for t in terms if WORD_RE.search(t)]
    if not terms:
        raise BadQuery("expected a word in the keyword", 0)
    return parse(" OR ".join(f'"{t}"' for t in terms))


class Analyzer:
    """The pure part of the pipeline: no store, no side effects."""

    def __init__(self, tagger: Tagger, topics: Topics, detector: LanguageDetector) -> None:
        self.tagger = tagger
        self.topics = topics
        self.detector = detector
        self.subscriptions: Matcher[MatchKey] = Matcher()

    def doc(self, post: Post) -> tuple[Doc, tuple[Mention, ...], LazyLanguage, tuple[str, ...]]:
        folded = fold(post.text)
        mentions = tuple(self.tagger.tag(folded))
        lang = LazyLanguage(self.detector, post.text)
        named = frozenset(m.entity_id for m in mentions)
        doc = Doc(
            words=folded.words(),
            entities=named.union(self.tagger.watchlist.implied(named)) if named else named,
            source=post.source_id,
            lang=lang,
        )
        topics = self.topics.classify(doc)
        if topics:
            doc.topics = frozenset(topics)  # keeps the doc's cached views
        return doc, mentions, lang, topics

    def analyze(self, post: Post, *, detect: bool | None = None) -> tuple[Analysis, tuple[MatchKey, ...]]:
        """Tag, classify and match one post. Language is detected when something matched
        (an alert will need it) or when `detect` is True."""
        doc, mentions, lang, topics = self.doc(post)
        matches = tuple(self.subscriptions.match(doc))
        if detect or (detect is None and matches):
            lang()
        code, confidence = lang.result if lang.result else (None, 0.0)
        implied = self.tagger.watchlist.implied(m.entity_id for m in mentions) if mentions else ()
        return Analysis(mentions, tuple(topics), code, confidence, implied), matches


class LazyLanguage:
    """Detects a text's language on first call only: most posts never need it."""

    __slots__ = ("_detector", "_text", "result")

    def __init__(self, detector: LanguageDetector, text: str) -> None:
        self._detector = detector
        self._text = text
        self.result: tuple[str, float] | None = None

    def __call__(self) -> str:
        if self.result is None:
            found = self._detector.detect(self._text)
            self.result = (found.lang, found.confidence)
        return self.result[0]


class Pipeline:
    """Runs posts through the analyzer and records the results in the store and outbox."""

    def __init__(self, store: Store, analyzer: Analyzer, stories: Stories | None = None) -> None:
        self.store = store
        self.analyzer = analyzer
        self.stories = stories
        self._revision = -1
        self.reload()

    def reload(self) -> None:
        """Rebuild the subscription index from the store (after a moderator change)."""
        matcher: Matcher[MatchKey] = Matcher()
        known = set(self.analyzer.tagger.watchlist.ids)
        for sub in self.store.subscriptions():
            if sub.paused:
                continue
            try:
                matcher.add((sub.room_id, sub.id), parse(sub.query, known_entities=known))
            except BadQuery as exc:
                log.warning("subscription %s/%s no longer parses: %s", sub.room_id, sub.id, exc)
        for kw in self.store.keywords():
            try:
                matcher.add((kw.room_id, "kw:" + kw.keyword), keyword_query(kw.keyword, kw.variants))
            except BadQuery as exc:
                log.warning("keyword %r of %s does not parse: %s", kw.keyword, kw.room_id, exc)
        self.analyzer.subscriptions = matcher
        self._revision = self.store.revision()

    def refresh(self) -> None:
        """Pick up subscription changes made by another process or a chat command."""
        if self.store.revision() != self._revision:
            self.reload()

    def process(self, post: Post, *, enqueue: bool = True) -> Outcome:
        """Analyse a post, store it, and enqueue at most one alert per room for it.

        An edit updates the stored text and the alerts already made for the post (sent ones
        are edited in place by the relay); if the edited text newly matches a room, that room
        gets its alert then (once: alerts are unique per post and room).

        With `enqueue=False` (a replay of history) the post is stored and its matches
        reported in `Outcome.rooms`, but nothing is queued: no relay will ever send it."""
        text = sanitize(post.text)
        if text != post.text:
            post = dataclasses.replace(post, text=text)
        # An edit may have to update alerts already sent, which show the language: detect it.
        analysis, matches = self.analyzer.analyze(post, detect=True if post.edited else None)
        # Before the transaction: the sentence model may take tens of ms, and the store is
        # locked while a transaction is open. A post seen again gets its story back.
        story = self.stories.assign(post, analysis) if matches and self.stories else None
        with self.store.transaction():
            saved = self.store.save_post(post, analysis)
            if saved.changed and not saved.new:
                self.store.update_alerts_for_edit(post, analysis)
            if story is not None and self.stories is not None:
                self.stories.record(self.store, post, analysis, story)
            alert_ids, rooms, joined = [], [], []
            if matches and saved.changed:
                seen_rooms: set[str] = set()
                for room_id, sub_id in matches:
                    if room_id in seen_rooms:
                        continue
                    seen_rooms.add(room_id)
                    if story is not None and self.stories is not None and self.stories.follows(
                            self.store, post, story, room_id, new_post=saved.new,
                            enqueue=enqueue):
                        joined.append(room_id)
                        continue
                    alert_id = None
                    if enqueue:
                        alert_id = self.store.enqueue_alert(Alert(
                            post, room_id, sub_id, analysis,
                            story_id=story.story if story is not None else None))
                    if alert_id is not None or not enqueue:
                        if alert_id is not None:
                            alert_ids.append(alert_id)
                        rooms.append(room_id)
                        if story is not None and self.stories is not None:
                            self.stories.claim(self.store, story, room_id, post, alert_id)
        return Outcome(post, analysis, matches, tuple(alert_ids), saved.post_id, tuple(rooms),
                       story, tuple(joined))

    @property
    def blocking(self) -> bool:
        """True when processing may run the sentence model (tens of ms): async callers then
        run `process` in a thread."""
        return self.stories is not None and self.stories.blocking
