"""This module contains the supervisor of polled sources: one poller per enabled source.

`Pollers` follows the sources in the store (what the config seeded and what `/sources add` and
`/sources remove` changed) without a restart: a new source starts polling at the next
reconcile, a removed one stops, one whose platform or address changed is restarted from a fresh
cursor. Each poller runs in its own task, so a slow or failing source never holds up another.
Chat sources (Telegram, Discord) are not polled: their platform adapters push their posts.

A new polled kind plugs in with one entry in `KINDS`: a function that makes its `Fetcher` from
the store's record and the settings entry, and, if its defaults differ, its `Schedule` (e.g.
thousands of feeds spread their first polls over a whole interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

import httpx

from bot.backoff import Schedule
from bot.errors import SourceError
from bot.model import Post
from bot.ports import Fetcher, SourceRecord, Store
from bot.settings import Settings, SourceSettings
from bot.sources.health import HealthBoard
from bot.sources.poller import Poller
from bot.sources.silence import (
    NOTICE_ACTION,
    Change,
    SilenceWatch,
    followers,
    notice_alert,
)

if TYPE_CHECKING:
    from bot.sources.rss import HostLimiter

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 60.0  # a source added in chat has no settings entry of its own
FetcherFactory = Callable[[SourceRecord, SourceSettings | None], Fetcher]


def _telegram_public(record: SourceRecord, conf: SourceSettings | None) -> Fetcher:
    from bot.sources.telegram_public import TelegramPublicFetcher

    base = conf.url if conf is not None and conf.url else "https://t.me/s/"
    return TelegramPublicFetcher(record.id, record.address, base_url=base)


def _rss(record: SourceRecord, conf: SourceSettings | None) -> Fetcher:
    from bot.sources.rss import FeedFetcher

    client, limiter = feed_pool()
    return FeedFetcher(record.id, record.address, client=client, limiter=limiter,
                       backfill=conf.backfill if conf is not None else 0)


def _rss_schedule(interval: float) -> Schedule:
    # Thousands of feeds: first polls spread over a whole interval; backoff up to 6 h.
    return Schedule(interval, jitter=0.1, start_spread=interval,
                    max_backoff=min(6 * 3600.0, max(900.0, 8 * interval)))


class PolledKind(NamedTuple):
    make: FetcherFactory
    schedule: Callable[[float], Schedule] = Schedule  # from the source's interval


KINDS: dict[str, PolledKind] = {"telegram_public": PolledKind(_telegram_public),
                                "rss": PolledKind(_rss, _rss_schedule)}
NOT_YET: dict[str, str] = {}
_pools: dict[int, tuple[httpx.AsyncClient, HostLimiter]] = {}


def feed_pool() -> tuple[httpx.AsyncClient, HostLimiter]:
    """The HTTP client and per-host limiter every feed of this event loop shares: one
    connection pool and TLS context for ten thousand feeds, not one each."""
    from bot.sources import http
    from bot.sources.rss import HostLimiter

    key = id(asyncio.get_running_loop())
    pool = _pools.get(key)
    if pool is None or pool[0].is_closed:
        client = http.make_client(timeout=20.0, limits=httpx.Limits(
            max_connections=256, max_keepalive_connections=64))
        pool = _pools[key] = (client, HostLimiter())
    return pool


async def close_feed_pool() -> None:
    pool = _pools.pop(id(asyncio.get_running_loop()), None)
    if pool is not None:
        await pool[0].aclose()


class Host(Protocol):
    """What the supervisor needs of the app (`bot.bootstrap.App`)."""

    settings: Settings
    store: Store
    source_health: HealthBoard

    async def ingest(self, post: Post) -> object | None: ...  # None: it could not be processed


class SourceIndex:
    """The store's sources by id, read once per store revision for every poller: ten thousand
    pollers checking their record each would read the whole table ten thousand times."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._revision = -1
        self._by_id: dict[str, SourceRecord] = {}

    def get(self, source_id: str) -> SourceRecord | None:
        revision = self.store.revision()
        if revision != self._revision:
            self._by_id = {r.id: r for r in self.store.sources()}
            self._revision = revision
        return self._by_id.get(source_id)


_indexes: weakref.WeakKeyDictionary[Store, SourceIndex] = weakref.WeakKeyDictionary()


def source_index(store: Store) -> SourceIndex:
    index = _indexes.get(store)
    if index is None:
        index = _indexes[store] = SourceIndex(store)
    return index


class _CursorKeeper:
    """Saves a poller's cursor, unless its record was removed or now names another address:
    this address's position means nothing there."""

    def __init__(self, store: Store, record: SourceRecord, fetcher: Fetcher | None = None,
                 index: SourceIndex | None = None) -> None:
        self.store = store
        self.record = record
        self.fetcher = fetcher
        self.index = index or SourceIndex(store)

    def __call__(self, cursor: str) -> None:
        moved = getattr(self.fetcher, "moved_to", None)
        if moved and moved != self.record.address:
            self._move(moved, cursor)
            return
        current = self.index.get(self.record.id)
        if current is not None and (current.platform, current.address) == (
                self.record.platform, self.record.address):
            self.store.set_cursor(self.record.id, cursor)

    def _move(self, address: str, cursor: str) -> None:
        """A permanent redirect: the stored address becomes the new one, with the cursor (the
        store has no update, so the record is replaced in one transaction)."""
        current = next((r for r in self.store.sources() if r.id == self.record.id), None)
        if current is None or (current.platform, current.address) != (
                self.record.platform, self.record.address):
            return
        moved = SourceRecord(current.id, current.platform, address, current.name,
                             current.enabled, cursor)
        with self.store.transaction():
            self.store.remove_source(current.id)
            self.store.add_source(moved, "wirewatch")
            self.store.set_cursor(current.id, cursor)
            self.store.audit("wirewatch", "source.moved", None, id=current.id,
                             old=current.address, new=address)
        log.info("source %s moved permanently to %s", current.id, address)
        self.record = moved


def make_poller(app: Host, record: SourceRecord,
                confs: Mapping[str, SourceSettings] | None = None) -> Poller | None:
    """The poller of a source this process polls itself, or None (with a log line) if the
    record cannot be polled: one bad record must not stop the others or the start. `confs`
    (the settings' sources by id) saves a search per source when thousands start."""
    kind = KINDS.get(record.platform)
    if kind is None:
        if record.platform in NOT_YET:
            log.warning("source %s: %s; skipped", record.id, NOT_YET[record.platform])
        return None  # chat sources: their platform adapter receives their posts
    if confs is None:
        confs = {s.id: s for s in app.settings.sources}
    conf = confs.get(record.id)
    try:
        fetcher = kind.make(record, conf)
    except ValueError as exc:
        log.error("source %s cannot be polled: %s", record.id, exc)
        return None
    schedule = kind.schedule(conf.interval if conf is not None else DEFAULT_INTERVAL)
    keeper = _CursorKeeper(app.store, record, fetcher, source_index(app.store))
    return Poller(fetcher, schedule, cursor=record.cursor, save=keeper,
                  health=app.source_health.open(record.id, record.platform))


class Running(NamedTuple):
    record: SourceRecord
    stop: asyncio.Event
    task: asyncio.Task[None]
    poller: Poller


class Pollers:
    """Keeps one polling task per enabled polled source, following /sources add|remove."""

    def __init__(self, app: Host, stop: asyncio.Event) -> None:
        self.app = app
        self.stop = stop
        self.running: dict[str, Running] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._revision = -1

    def reconcile(self) -> None:
        """Start and stop pollers to match the store (cheap when nothing changed)."""
        revision = self.app.store.revision()
        if revision == self._revision:
            return
        self._revision = revision
        records = self.app.store.sources()
        self.app.source_health.retain(r.id for r in records)  # chat sources removed too
        wanted = {r.id: r for r in records if r.enabled}
        confs = {s.id: s for s in self.app.settings.sources}
        for source_id, running in list(self.running.items()):
            now = wanted.get(source_id)
            if now is None or (now.platform, now.address) != (running.record.platform,
                                                              running.record.address):
                # Removed, or removed and added again with another address: stop this one.
                self._retire(source_id, running)
                log.info("source %s removed or changed: its polling stopped", source_id)
        for source_id, record in wanted.items():
            if source_id not in self.running and not self.stop.is_set():
                self._start(record, confs)

    def _start(self, record: SourceRecord, confs: Mapping[str, SourceSettings]) -> None:
        poller = make_poller(self.app, record, confs)
        if poller is None:
            return
        own_stop = asyncio.Event()
        task = asyncio.create_task(self._run(poller, own_stop), name=f"source:{record.id}")
        self.running[record.id] = Running(record, own_stop, task, poller)

    def _retire(self, source_id: str, running: Running) -> None:
        del self.running[source_id]
        running.stop.set()
        self._stopping.add(running.task)
        running.task.add_done_callback(self._stopping.discard)
        self.app.source_health.drop(source_id, running.poller.health)

    async def _run(self, poller: Poller, own_stop: asyncio.Event) -> None:
        async def emit(post: Post) -> None:
            if await self.app.ingest(post) is None:
                raise SourceError(f"post {post.key} could not be processed")

        await poller.run(emit, own_stop)

    async def announce(self, changes: list[Change]) -> None:
        """Say each change in the rooms that follow its source, through their platform."""
        if not changes:
            return
        rooms = self.app.store.rooms()
        queries: dict[str, list[str]] = {}
        for sub in self.app.store.subscriptions():
            queries.setdefault(sub.room_id, []).append(sub.query)
        platforms = getattr(self.app, "platforms", {})
        for change in changes:
            log.warning("source %s", change.notice())
            try:  # remembered across restarts: said once, not again at the next start
                self.app.store.audit("wirewatch", NOTICE_ACTION, None, source=change.source_id,
                                     state=change.state, detail=change.detail)
            except Exception:
                log.warning("could not record the notice about %s", change.source_id,
                            exc_info=True)
            for room in followers(change.source_id, rooms, queries):
                platform = platforms.get(room.platform)
                if platform is None:
                    continue
                try:
                    await platform.send(room, notice_alert(change, room))
                except Exception as exc:  # best effort: the next change is said again
                    log.warning("could not tell room %s about %s: %r", room.id,
                                change.source_id, exc)

    async def supervise(self, every: float = 2.0, watch_every: float = 60.0) -> None:
        """Reconcile until stopped, then stop every poller and wait for it to finish. Every
        `watch_every` seconds, say sources gone silent or failing (and back) in their rooms."""
        watch: SilenceWatch | None = getattr(self.app, "silence", None)
        if watch is not None:
            try:
                watch.learn(self.app.store)
                watch.restore(self.app.store)
            except Exception:
                log.exception("could not learn the sources' usual gaps")
        loop = asyncio.get_running_loop()
        next_watch = loop.time() + min(watch_every, 5.0)
        while not self.stop.is_set():
            try:
                self.reconcile()
            except Exception:
                log.exception("could not reconcile the polled sources")
            if watch is not None and loop.time() >= next_watch:
                next_watch = loop.time() + watch_every
                try:
                    await self.announce(watch.check(
                        self.app.source_health, [r.id for r in self.app.store.sources()]))
                except Exception:
                    log.exception("could not check the sources' health")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), every)
        for running in self.running.values():
            running.stop.set()
        tasks = [running.task for running in self.running.values()] + list(self._stopping)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await close_feed_pool()
