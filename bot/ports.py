"""This module contains the small interfaces between the core and its replaceable parts.

The store and the outbox are shaped so that several worker processes could share them: alerts
are unique per (post, room), delivery is claimed with an expiring lease, and every write is a
single statement or a short transaction. SQLite implements them today; PostgreSQL is a second
engine behind the same protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from bot.model import Alert, Analysis, Mention, Post, Room, SourceRef, Subscription

if TYPE_CHECKING:
    from bot.pipeline.query import Query


@dataclass(frozen=True, slots=True)
class StoredPost:
    id: int
    post: Post
    lang: str | None
    lang_confidence: float | None
    entities: tuple[str, ...]
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SaveResult:
    post_id: int
    new: bool  # first time this post key was seen
    changed: bool  # new, or an edit that changed the text


@dataclass(frozen=True, slots=True)
class OutboxItem:
    alert: Alert  # with .id set
    state: str
    attempts: int
    remote_ref: str | None
    translated: bool
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Keyword:
    room_id: str
    keyword: str
    variants: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceRecord:
    id: str
    platform: str
    address: str
    name: str | None = None
    enabled: bool = True
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class StoryRecord:
    """One story: an event reported by one or more posts; `id` is the key of its first post."""

    id: str
    first_seen: datetime
    last_seen: datetime
    posts: int
    sources: tuple[str, ...]  # in order of arrival
    languages: tuple[str, ...]
    entities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoryLink:
    """A post's place in a story, as grouping saw it (`vector`: its embedding, if made)."""

    post_key: str
    story_id: str
    date: datetime
    source_id: str
    lang: str | None = None
    entities: tuple[str, ...] = ()
    vector: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoryRoom:
    """The first post of a story that reached a room, and its alert (None: never queued)."""

    story_id: str
    room_id: str
    post_key: str
    alert_id: int | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    room_id: str | None
    action: str
    detail: dict[str, Any]


class Store(Protocol):
    """Everything wirewatch persists. Implementations must be safe to share between processes.

    Any method raises `bot.errors.StorageError` when the storage fails (disk full, locked
    too long, a damaged file), after rolling back all of the open transaction; a transaction
    that met one never commits, and the next one works once the cause is gone."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def close(self) -> None: ...
    def revision(self) -> int: ...  # bumps on every change to rooms, subscriptions, keywords, sources
    def schema_version(self) -> int: ...  # the newest migration applied (bot.storage.migrate)

    # posts and search
    def save_post(self, post: Post, analysis: Analysis) -> SaveResult: ...
    def set_post_language(self, post_id: int, lang: str, confidence: float) -> None: ...
    def get_post(self, key: str) -> StoredPost | None: ...
    def post_mentions(self, post_id: int) -> list[Mention]: ...  # in text order
    def recent_posts(self, *, since: datetime | None = None, limit: int = 200,
                     before_id: int | None = None) -> list[StoredPost]: ...
    # Newest first, every post `query` may accept (a superset: each engine prefilters with its
    # own index; the caller evaluates the query exactly). Page with before_id.
    def search_posts(self, query: Query | None, *, since: datetime | None = None,
                     limit: int = 200, before_id: int | None = None) -> list[StoredPost]: ...
    def count_posts(self) -> int: ...

    # translation cache
    def get_translation(self, key: str, source: str, target: str) -> str | None: ...
    def put_translation(self, key: str, source: str, target: str, text: str, provider: str) -> None: ...

    # rooms, subscriptions, keywords, sources
    def seed_once(self, kind: str, key: str) -> bool: ...
    def upsert_room(self, room: Room, *, keep_language: bool = True) -> Room: ...
    def get_room(self, room_id: str) -> Room | None: ...
    def find_room(self, platform: str, chat: str, thread: str | None = None) -> Room | None: ...
    def rooms(self) -> list[Room]: ...
    def set_room_language(self, room_id: str, language: str) -> None: ...
    def add_subscription(self, sub: Subscription, *, replace: bool = True) -> bool: ...
    def rename_room(self, old_id: str, new_id: str) -> None: ...
    def remove_room(self, room_id: str) -> bool: ...
    def remove_subscription(self, room_id: str, sub_id: str) -> bool: ...
    def set_subscription_paused(self, room_id: str, sub_id: str, paused: bool) -> bool: ...
    def subscriptions(self, room_id: str | None = None) -> list[Subscription]: ...
    def add_keyword(self, room_id: str, keyword: str, variants: Sequence[str] | None = None,
                    actor: str | None = None) -> bool: ...
    def remove_keyword(self, room_id: str, keyword: str) -> bool: ...
    def keywords(self, room_id: str | None = None) -> list[Keyword]: ...
    def add_source(self, source: SourceRecord, actor: str | None = None) -> bool: ...
    def remove_source(self, source_id: str) -> bool: ...
    def sources(self) -> list[SourceRecord]: ...
    def set_cursor(self, source_id: str, cursor: str) -> None: ...
    def get_cursor(self, source_id: str) -> str | None: ...

    # outbox
    def enqueue_alert(self, alert: Alert) -> int | None: ...  # None: this (post, room) already has one
    def claim_alerts(self, worker: str, *, limit: int = 20, lease: float = 60.0) -> list[OutboxItem]: ...
    def mark_sent(self, alert_id: int, worker: str, remote_ref: str | None, translated: bool) -> bool: ...
    def renew_claim(self, alert_id: int, worker: str, lease: float) -> bool: ...
    def release_claims(self, worker: str, alert_ids: Sequence[int], delay: float = 0.0) -> int: ...
    def mark_retry(self, alert_id: int, worker: str, error: str, delay: float) -> None: ...
    def mark_failed(self, alert_id: int, worker: str, error: str) -> None: ...
    def mark_translated(self, alert_id: int, translation: str, of_text: str | None = None) -> bool: ...
    def update_alerts_for_edit(self, post: Post, analysis: Analysis) -> int: ...
    def take_updates(self, limit: int = 20) -> list[OutboxItem]: ...
    def flag_updates(self, alert_ids: Sequence[int]) -> None: ...
    def outbox_counts(self) -> dict[str, int]: ...
    def alerts_for_room(self, room_id: str, limit: int = 20) -> list[OutboxItem]: ...

    # stories (bot.stories): one alert per story per room, later reports update it
    def link_story(self, link: StoryLink) -> bool: ...  # False: the post was linked already
    def set_story_vector(self, post_key: str, vector: bytes) -> None: ...
    def get_story(self, story_id: str) -> StoryRecord | None: ...
    def story_links(self, story_id: str) -> list[StoryLink]: ...  # oldest first
    def story_of_post(self, post_key: str) -> str | None: ...
    def grouped_since(self, since: datetime, limit: int = 100_000) -> list[tuple[StoryLink, str]]: ...
    def story_room(self, story_id: str, room_id: str) -> StoryRoom | None: ...
    # False: the room has the story (a claim without an alert yields to one with an alert)
    def claim_story_room(self, room: StoryRoom) -> bool: ...
    # Add a later report to an alert ("+N sources"); a sent alert is flagged for an edit no
    # sooner than `delay` seconds after its first unapplied change. False: unknown alert or
    # the report is on it already.
    def add_alert_source(self, alert_id: int, ref: SourceRef, delay: float = 0.0) -> bool: ...

    # audit
    def audit(self, actor: str, action: str, room_id: str | None = None,
              **detail: Any) -> None: ...
    def audit_log(self, limit: int = 50) -> list[AuditEntry]: ...

    # workers (heartbeats: a dead worker's claims are taken over in seconds, not a lease)
    def worker_beat(self, worker: WorkerRecord) -> None: ...  # insert or refresh, beat = now
    def get_worker(self, name: str) -> WorkerRecord | None: ...
    def workers(self) -> list[WorkerRecord]: ...
    def forget_worker(self, name: str, instance: str) -> None: ...  # a clean stop
    def expire_claims_of(self, name: str) -> int: ...  # its 'sending' alerts are due at once
    def expire_stale_claims(self, stale_after: float) -> int: ...  # of every stale worker


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """One running wirewatch process as the store knows it; `instance` is unique per start,
    `beat` the unix time of its last heartbeat."""

    name: str
    instance: str
    role: str
    host: str
    pid: int
    started: float = 0.0
    beat: float = 0.0


class Platform(Protocol):
    """A place alerts are delivered to (Telegram, Discord, console, webhook)."""

    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(self, room: Room, alert: Alert) -> str | None: ...  # returns a ref for edits
    async def edit(self, room: Room, ref: str, alert: Alert) -> None: ...


# -- sources: where posts come from --------------------------------------------------------
# A polled source (t.me/s today, RSS next) brings only a `Fetcher` (fetch and parse, no timing);
# the one generic poller (`bot.sources.poller.Poller`) runs it on a schedule, which makes it a
# `Source`. A chat source (Telegram, Discord) is pushed by its platform's connection, which
# serves many sources at once, so it has no `run` of its own: it reports the same
# `SourceStatus` through a `bot.sources.health.SourceHealth` recorder.


class Emit(Protocol):
    """Hands a post to the pipeline; raises if that failed (the poller then retries it)."""

    async def __call__(self, post: Post, /) -> None: ...


@dataclass(frozen=True, slots=True)
class Batch:
    """What one fetch found since the cursor it was given."""

    items: Sequence[tuple[Post, str]]  # new posts, oldest first, each with the cursor past it
    cursor: str | None  # the cursor once every item is handed over (it may pass postless items)
    wait: float | None = None  # the server's wish (e.g. Cache-Control max-age), in seconds


class SourceStatus(TypedDict):
    """The health of one source, for /status; times are ISO 8601 in UTC."""

    kind: str  # the source's platform: telegram_public, rss, telegram, discord
    ok: bool  # the last poll (or post) worked
    last_ok: str | None  # last success
    last_error: str | None  # the last problem, kept after recovery
    last_error_at: str | None
    failures: int  # consecutive failures, 0 once it works again
    posts: int  # items seen (handed to the pipeline) since the process started
    last_post: str | None  # when the last item was seen
    backoff_until: str | None  # a failing polled source's next try


class Fetcher(Protocol):
    """The part of a polled source that is its own: fetch and parse one round, no timing."""

    source_id: str
    kind: str

    async def fetch(self, cursor: str | None) -> Batch: ...  # SourceError(retry_after=) on failure
    async def aclose(self) -> None: ...


class Source(Protocol):
    """A source that runs by itself: emits each new post once and keeps a cursor to persist."""

    source_id: str
    kind: str
    cursor: str | None

    def status(self) -> SourceStatus: ...
    async def run(self, emit: Emit, stop: asyncio.Event) -> None: ...  # until `stop` is set
    async def aclose(self) -> None: ...


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- translation (service helper) --------------------------------------------------------


class Translated(Protocol):
    """One translation result: the text, and which provider made it ("none": nothing to do)."""

    @property
    def text(self) -> str: ...
    @property
    def provider(self) -> str: ...


class Translator(Protocol):
    """What the relay and the handlers need of a translator (`bot.pipeline.translate`)."""

    async def translate(self, text: str, source: str | None, target: str) -> Translated: ...

    async def translate_within(
        self, text: str, source: str | None, target: str, wait: float | None = None,
    ) -> tuple[Translated | None, asyncio.Task[Any] | None, str | None]: ...

    def health(self) -> dict[str, str]: ...
    async def aclose(self) -> None: ...
