"""This module contains the `rss` source: RSS, Atom and JSON feeds polled over HTTP.

`FeedFetcher` is the `bot.ports.Fetcher` of one feed; the generic poller gives it its schedule,
backoff and health like any polled source. One round is a conditional GET (If-None-Match /
If-Modified-Since from the cursor; a 304 costs no parsing), gzip and redirects through httpx,
the shared size cap and Retry-After handling of `bot.sources.http`, Cache-Control max-age as
the server's wish (`Batch.wait`), and at most `PER_HOST` requests in flight per host, so a
thousand feeds of one publisher never hit it at once.

Identity: an item is the same item when its guid is known, or when its link is known and its
title too (a publisher that changes GUIDs does not alert again), or, with neither guid nor
link, when title + date are. Items present at a feed's first poll are recorded, not emitted
(`backfill` emits the newest N). A known item whose text changed is emitted again as an edit
(the same `Post.key`, `edited=True`), which the pipeline handles like an edited chat post.

The cursor is compact JSON: the URL in use (a permanent redirect moves it), the validators,
and the identity of the last `keep` items as short hashes: {"u", "e", "m", "s": [[mid, text,
guid, link, title], ...]}. It moves past each emitted item, and the validators are only stored
with the whole batch, so a stop in the middle re-reads the document and emits only the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from bot.model import Post
from bot.ports import Batch
from bot.sources import http
from bot.sources.feedparse import Feed, FeedItem, parse_feed

log = logging.getLogger(__name__)

PLATFORM = "rss"
MAX_FEED = 5 * 1024 * 1024  # decoded bytes: a gzip bomb is a failed poll
KEEP = 200  # item identities kept per feed (at least twice what the document holds)
PER_HOST = 4
MAX_WAIT = 6 * 3600.0  # a Cache-Control max-age beyond this is not obeyed
PERMANENT = frozenset({301, 308})
_MAX_AGE_RE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.I)


def _h(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=5).hexdigest()


@dataclass(slots=True)
class _Seen:
    mid: str
    text: str
    guid: str
    link: str
    title: str

    def row(self) -> list[str]:
        return [self.mid, self.text, self.guid, self.link, self.title]


@dataclass(slots=True)
class FeedState:
    """What the cursor holds, with indexes to find an item by each of its keys."""

    url: str
    etag: str | None = None
    modified: str | None = None
    seen: list[_Seen] = field(default_factory=list)
    started: bool = False  # False: this is the feed's first poll

    @classmethod
    def load(cls, cursor: str | None, url: str, source_id: str) -> FeedState:
        if not cursor:
            return cls(url)
        try:
            data = json.loads(cursor)
            seen = [_Seen(*map(str, row[:5])) for row in data.get("s", [])]
            return cls(str(data.get("u") or url), data.get("e"), data.get("m"), seen, True)
        except (ValueError, TypeError, AttributeError):
            log.warning("%s: stored cursor is not a feed cursor; starting afresh", source_id)
            return cls(url)

    def dump(self, *, validators: bool) -> str:
        data: dict[str, object] = {"u": self.url, "s": [s.row() for s in self.seen]}
        if validators:
            data.update({"e": self.etag, "m": self.modified})
        return json.dumps(data, separators=(",", ":"))


class _Index:
    def __init__(self, seen: list[_Seen]) -> None:
        self.guid: dict[str, _Seen] = {}
        self.link: dict[str, list[_Seen]] = {}  # one link may carry several stories
        self.mid: dict[str, _Seen] = {}
        for s in seen:
            self.add(s)

    def find(self, guid: str, link: str, title: str, mid: str) -> _Seen | None:
        if guid and guid in self.guid:
            return self.guid[guid]
        for found in self.link.get(link, ()) if link else ():
            if not guid or not found.guid or found.title == title:
                return found  # same link, and no guid to tell them apart or the same title
        return self.mid.get(mid) if not guid and not link else None

    def add(self, seen: _Seen) -> None:
        if seen.guid:
            self.guid[seen.guid] = seen
        if seen.link:
            self.link.setdefault(seen.link, []).append(seen)
        self.mid[seen.mid] = seen


class HostLimiter:
    """At most `per_host` requests in flight per host (made per event loop)."""

    def __init__(self, per_host: int = PER_HOST) -> None:
        self.per_host = per_host
        self._slots: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        host = urlsplit(url).netloc.lower()
        sem = self._slots.get(host)
        if sem is None:
            sem = self._slots[host] = asyncio.Semaphore(self.per_host)
        async with sem:
            yield


class FeedFetcher:
    """Fetches one feed (see the module docstring). A given `client` is not closed."""

    kind = PLATFORM

    def __init__(self, source_id: str, url: str, *, backfill: int = 0,
                 client: httpx.AsyncClient | None = None, limiter: HostLimiter | None = None,
                 timeout: float = 20.0, max_bytes: int = MAX_FEED, keep: int = KEEP) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) feed address: {url!r}")
        self.source_id = source_id
        self.url = url.strip()
        self.backfill = max(0, backfill)
        self.max_bytes = max_bytes
        self.keep = keep
        self.moved_to: str | None = None  # set when a permanent redirect moved the feed
        self.last_feed: tuple[str, int, str] | None = None  # title, items, version: not the
        # items themselves, which would keep ten thousand feeds' documents in memory
        self._client = client
        self._owns_client = client is None
        self._limiter = limiter or HostLimiter()
        self._timeout = timeout

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, cursor: str | None) -> Batch:
        state = FeedState.load(cursor, self.url, self.source_id)
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
                             "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.modified:
            headers["If-Modified-Since"] = state.modified
        async with self._limiter.slot(state.url):
            got = await http.get(self._http(), state.url, headers=headers,
                                 max_bytes=self.max_bytes)
        response = got.response
        moved = _permanent_target(response)
        if moved is not None and moved != state.url:
            log.info("%s: feed moved permanently from %s to %s", self.source_id, state.url, moved)
            state.url = moved
            self.moved_to = moved
        wait = _max_age(response)
        if response.status_code == 304 and state.started:
            return Batch([], state.dump(validators=True) if moved else None, wait)
        http.check_status(response, state.url)
        feed = parse_feed(got.body, str(response.url))
        self.last_feed = (feed.title, len(feed.items), feed.version)
        items = self._changes(feed, state)
        state.etag = response.headers.get("ETag")
        state.modified = response.headers.get("Last-Modified")
        return Batch(items, state.dump(validators=True), wait)

    def _changes(self, feed: Feed, state: FeedState) -> list[tuple[Post, str]]:
        """New and edited items, oldest first, each with the cursor past it; updates `state`."""
        index = _Index(state.seen)
        order = _oldest_first(feed.items)
        fresh: list[tuple[FeedItem, _Seen, bool]] = []  # item, identity, edited
        current: list[_Seen] = []
        for item in order:
            guid, link, title = (_h(item.guid) if item.guid else "",
                                 _h(item.link) if item.link else "", _h(item.title))
            mid = guid or link or _h(f"{item.title}\x00{item.date or ''}")
            digest = _h(f"{item.title}\x00{item.markup}")
            known = index.find(guid, link, title, mid)
            if known is None:
                known = _Seen(mid, digest, guid, link, title)
                index.add(known)
                fresh.append((item, known, False))
            elif known.text != digest:
                known.text, known.title = digest, title
                if guid and not known.guid:
                    known.guid = guid
                fresh.append((item, known, True))
            if known not in current:
                current.append(known)
        if not state.started:
            emitted = {id(s) for _, s, _ in fresh[len(fresh) - self.backfill:]} \
                if self.backfill else set()
            fresh = [f for f in fresh if id(f[1]) in emitted]
        # The kept identities: older ones first, then this document's, bounded per feed.
        keep = max(self.keep, 2 * len(current))
        ids = {id(s) for s in current}
        pending = {id(s) for _, s, _ in fresh}
        older = [s for s in state.seen if id(s) not in ids]
        done = older + [s for s in current if id(s) not in pending]
        state.seen = done[-keep:]
        state.started = True
        out: list[tuple[Post, str]] = []
        for item, seen, edited in fresh:
            state.seen.append(seen)
            if len(state.seen) > keep:
                del state.seen[0]
            out.append((self._post(item, seen.mid, edited), state.dump(validators=False)))
        # the last item's cursor lacks the validators; the batch cursor adds them
        return out

    def _post(self, item: FeedItem, mid: str, edited: bool) -> Post:
        kwargs = {"date": item.date} if item.date is not None else {}
        text = item.text or item.link or ""
        return Post(source_id=self.source_id, platform=PLATFORM, chat=self.source_id,
                    message_id=mid, text=text, author=item.author,
                    url=item.link, edited=edited, **kwargs)  # type: ignore[arg-type]

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = http.make_client(timeout=self._timeout)
            self._owns_client = True
        return self._client


def _oldest_first(items: list[FeedItem]) -> list[FeedItem]:
    """Documents list newest first; dated items sort by date, undated keep reversed order."""
    reverse = list(reversed(items))
    if all(i.date is not None for i in reverse):
        return sorted(reverse, key=lambda i: i.date)  # type: ignore[arg-type,return-value]
    return reverse


def _permanent_target(response: httpx.Response) -> str | None:
    """The final URL when every redirect followed was permanent (301/308), else None."""
    hops = response.history
    if hops and all(h.status_code in PERMANENT for h in hops) and response.status_code < 400:
        return str(response.url)
    return None


def _max_age(response: httpx.Response) -> float | None:
    m = _MAX_AGE_RE.search(response.headers.get("Cache-Control", ""))
    return min(float(m.group(1)), MAX_WAIT) if m else None


@dataclass(frozen=True, slots=True)
class Probe:
    """What one fetch of a feed showed: for `/sources add` and `wirewatch sources import`."""

    url: str  # after permanent redirects
    title: str
    items: int
    version: str


async def probe(url: str, *, client: httpx.AsyncClient | None = None,
                timeout: float = 15.0) -> Probe:
    """Fetch a feed once; SourceError (or ValueError for a bad address) says why it is unusable."""
    fetcher = FeedFetcher("probe", url, client=client, timeout=timeout)
    try:
        await fetcher.fetch(None)
    finally:
        await fetcher.aclose()
    assert fetcher.last_feed is not None  # fetch(None) sends no validators: never a 304
    title, items, version = fetcher.last_feed
    return Probe(fetcher.moved_to or fetcher.url, title, items, version)
