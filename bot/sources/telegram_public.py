"""This module contains the `telegram_public` source: public channels read via their web preview.

Channels the bot cannot join are still readable at `https://t.me/s/<username>`, an HTML page of
the latest posts. `TelegramPublicSource` polls that page, parses it with selectolax, keeps the
highest message id as its cursor so nothing is emitted twice, follows `?before=` pages to close a
gap when more posts arrived than one page holds, and backs off exponentially (honouring
Retry-After) when the page fails. Its `health` dict feeds /status.

Markup relied on (stable for years, but it is a web page, not an API):
`div.tgme_widget_message[data-post="<channel>/<id>"]` per post, `service_message` in its class
for pins and renames, `.tgme_widget_message_text.js-message_text` for text or caption (a reply's
quote uses `js-message_reply_text` instead), `a.tgme_widget_message_date time[datetime]` for the
date, `.tgme_widget_message_forwarded_from_name` for forwards, `.tgme_widget_message_from_author`
for signatures, `a.tme_messages_more[data-before]` for the previous page, and
`section.tgme_channel_history` for the list itself. Emoji are `<i class="emoji"><b>🔥</b></i>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.errors import SourceError
from bot.model import Post, utcnow

log = logging.getLogger(__name__)

PLATFORM = "telegram_public"
USER_AGENT = "Mozilla/5.0 (compatible; wirewatch/0.1; public channel preview reader)"
_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_LINK_RE = re.compile(r"^(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me)/(?:s/)?([^/?#]+)", re.I)
_SPACE_RE = re.compile(r"[ \t\r\n\f]+")  # not \s: a non-breaking space is content
_BLOCK_TAGS = frozenset({"div", "p", "blockquote", "pre", "ul", "ol", "li", "tr", "h1", "h2",
                         "h3", "h4"})
_SKIP_TAGS = frozenset({"script", "style", "svg", "video", "audio", "template"})
_MAX_RETRY_AFTER = 86_400.0  # a bogus header must not park a source for weeks
_EMIT_ATTEMPTS = 3  # a post the pipeline keeps refusing is skipped after this many tries


class PreviewError(SourceError):
    """The preview could not be fetched or read; `retry_after` is the server's wish, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class PreviewPage:
    """One parsed preview page: its posts with text, and every message id it showed."""

    posts: list[tuple[int, Post]]
    ids: list[int]  # service and media-only messages too: they move the cursor
    before: int | None  # the `?before=` of the older page, if there is one


def normalize_username(raw: str) -> str:
    """Accept `name`, `@name`, `t.me/name`, `https://t.me/s/name/123`; return `name`."""
    value = raw.strip()
    m = _LINK_RE.match(value)
    if m:
        value = m.group(1)
    value = value.removeprefix("@")
    if not _USERNAME_RE.fullmatch(value):
        raise ValueError(f"not a public Telegram channel username: {raw!r}")
    return value


def parse_preview(html: str, username: str, source_id: str) -> list[Post]:
    """Posts with text on a t.me/s/ page, oldest first; raise SourceError if it is no preview."""
    return [post for _, post in parse_page(html, username, source_id).posts]


def parse_page(html: str, username: str, source_id: str) -> PreviewPage:
    """Parse a t.me/s/ page fully (see `PreviewPage`); raise SourceError if it is no preview."""
    tree = LexborHTMLParser(html)
    nodes = tree.css("div.tgme_widget_message[data-post]")
    if not nodes and tree.css_first("section.tgme_channel_history") is None:
        if tree.css_first(".tgme_page, .tgme_username_link, .tgme_page_title") is not None:
            raise PreviewError(f"@{username} has no public web preview "
                               "(private, unknown, or not a channel)")
        raise PreviewError(f"t.me/s/{username}: page is not a channel preview")
    posts: dict[int, Post] = {}
    ids: set[int] = set()
    for node in nodes:
        message_id = _message_id(node)
        if message_id is None:
            continue
        ids.add(message_id)
        if "service_message" in (node.attributes.get("class") or "").split():
            continue
        post = _post(node, message_id, username, source_id)
        if post is not None:
            posts[message_id] = post
    more = tree.css_first("a.tme_messages_more[data-before]")
    before = _int(more.attributes.get("data-before")) if more is not None else None
    return PreviewPage(sorted(posts.items()), sorted(ids), before)


def _message_id(node: LexborNode) -> int | None:
    _, _, tail = (node.attributes.get("data-post") or "").rpartition("/")
    message_id = _int(tail)
    if message_id is None:
        log.debug("skipping a message with data-post=%r", node.attributes.get("data-post"))
    return message_id


def _post(node: LexborNode, message_id: int, username: str, source_id: str) -> Post | None:
    body = node.css_first(".tgme_widget_message_text.js-message_text")
    text = node_text(body) if body is not None else ""
    if not text:
        return None  # stickers, bare photos, polls: nothing to match or translate
    forwarded = node.css_first(".tgme_widget_message_forwarded_from_name")
    author = node.css_first(".tgme_widget_message_from_author")
    return Post(
        source_id=source_id,
        platform=PLATFORM,
        chat=username,
        message_id=str(message_id),
        text=text,
        date=_date(node, message_id),
        author=(node_text(author) or None) if author is not None else None,
        url=f"https://t.me/{username}/{message_id}",
        origin=(node_text(forwarded) or None) if forwarded is not None else None,
    )


def _date(node: LexborNode, message_id: int) -> datetime:
    # The date link, not any <time>: video durations are <time> elements as well.
    stamp = node.css_first("a.tgme_widget_message_date time[datetime]") or node.css_first(
        ".tgme_widget_message_meta time[datetime]")
    raw = stamp.attributes.get("datetime") if stamp is not None else None
    if raw:
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(raw)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    log.debug("message %s has no readable date; using now", message_id)
    return utcnow()


def node_text(node: LexborNode) -> str:
    """Visible text of a node: <br> and blocks become newlines, emoji images keep their emoji."""
    parts: list[str] = []
    _collect(node, parts)
    lines = [line.strip() for line in "".join(parts).split("\n")]
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def _collect(node: LexborNode, parts: list[str]) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            parts.append(_SPACE_RE.sub(" ", child.text_content or ""))
        elif tag == "br":
            parts.append("\n")
        elif tag == "img":
            # Some renderings use <img class="emoji" alt="🔥">; other images carry no text.
            if "emoji" in (child.attributes.get("class") or "") and child.attributes.get("alt"):
                parts.append(child.attributes["alt"] or "")
        elif tag in _SKIP_TAGS or tag.startswith(("-", "_", "!")):
            continue
        elif tag in _BLOCK_TAGS:
            parts.append("\n")
            _collect(child, parts)
            parts.append("\n")
        else:
            _collect(child, parts)


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - utcnow()).total_seconds()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


@dataclass
class _Backoff:
    failures: int = 0
    until: datetime | None = None
    emit_failures: dict[int, int] = field(default_factory=dict)


class TelegramPublicSource:
    """Polls one public channel's web preview and emits each new post once.

    `cursor` is the highest message id seen (service and media-only messages included); the
    caller persists it and passes it back on restart. `health` is for /status: `ok` (the last
    poll worked), `last_ok` and `backoff_until` (ISO times), `last_error` (the last problem,
    kept after recovery) and `posts` (posts delivered since start). Optional knobs:
    `max_backoff` caps the exponential backoff (Retry-After may exceed it), `max_pages` bounds
    the walk back through older pages, `timeout` is the HTTP timeout of an owned client.
    """

    kind = PLATFORM

    def __init__(self, source_id: str, username: str, *, interval: float = 60.0,
                 base_url: str = "https://t.me/s/", client: httpx.AsyncClient | None = None,
                 cursor: int | None = None, max_backoff: float = 900.0,
                 max_pages: int = 5, timeout: float = 20.0) -> None:
        self.source_id = source_id
        self.username = normalize_username(username)
        self.interval = interval
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.cursor: int | None = cursor
        self.max_backoff = max_backoff
        self.max_pages = max(1, max_pages)
        self.health: dict[str, Any] = {"ok": False, "last_ok": None, "last_error": None,
                                       "backoff_until": None, "posts": 0}
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout
        self._backoff = _Backoff()

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.username}"

    async def aclose(self) -> None:
        """Close the HTTP client if this source created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    # polling ------------------------------------------------------------------------------

    async def poll_once(self) -> list[Post]:
        """New posts since the cursor, oldest first; the cursor moves past them.

        With no cursor yet, every post on the first page counts as new. Raises SourceError
        (a PreviewError, with `retry_after` when the server asked for one) on failure.
        """
        posts, top = await self._fetch_checked()
        self._advance(top)
        self._succeeded(len(posts))
        return posts

    async def run(self, emit: Callable[[Post], Awaitable[None]], stop: asyncio.Event) -> None:
        """Poll, emit each new post, sleep `interval` (or the backoff), until `stop` is set."""
        log.info("polling %s every %ss (cursor %s)", self.url, self.interval, self.cursor)
        try:
            while not stop.is_set():
                try:
                    delay = await self._round(emit, stop)
                except Exception as exc:  # never let one bad round end the source
                    log.exception("%s: unexpected error", self.source_id)
                    delay = self._failed(f"internal error: {exc!r}", None)
                if delay is None:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            await self.aclose()
        log.info("stopped polling %s (cursor %s)", self.url, self.cursor)

    async def _round(self, emit: Callable[[Post], Awaitable[None]],
                     stop: asyncio.Event) -> float | None:
        """One poll and its emits; returns the delay before the next, None when stopping."""
        try:
            fetched = await _unless_stopped(self._fetch_checked(), stop)
        except SourceError:
            return self._current_delay()
        if fetched is None:
            return None
        posts, top = fetched
        for post in posts:
            message_id = int(post.message_id)
            try:
                await emit(post)
            except Exception as exc:
                tries = self._backoff.emit_failures.get(message_id, 0) + 1
                self._backoff.emit_failures[message_id] = tries
                if tries < _EMIT_ATTEMPTS:
                    return self._failed(f"emitting post {message_id} failed: {exc!r}", None)
                log.exception("%s: giving up on post %s after %s attempts",
                              self.source_id, message_id, tries)
            else:
                self.health["posts"] += 1
            self._backoff.emit_failures.pop(message_id, None)
            self._advance(message_id)
        self._advance(top)
        self._succeeded(0)
        return self.interval

    async def _fetch_checked(self) -> tuple[list[Post], int | None]:
        try:
            return await self._fetch_new()
        except SourceError as exc:
            self._failed(str(exc), getattr(exc, "retry_after", None))
            raise
        except Exception as exc:  # a parser surprise is still just a failed poll
            log.exception("%s: could not read %s", self.source_id, self.url)
            self._failed(f"could not read preview: {exc!r}", None)
            raise PreviewError(f"could not read preview: {exc!r}") from exc

    async def _fetch_new(self) -> tuple[list[Post], int | None]:
        page = await self._get_page(None)
        pages = [page]
        cursor = self.cursor
        if cursor is not None:
            # More posts than one page holds arrived since the cursor: walk back to it.
            while (page.ids and page.ids[0] > cursor + 1 and page.before is not None
                   and len(pages) < self.max_pages):
                page = await self._get_page(page.before)
                pages.append(page)
            if page.ids and page.ids[0] > cursor + 1 and page.before is not None:
                log.warning("%s: more than %s pages of new posts; ids %s..%s were skipped",
                            self.source_id, self.max_pages, cursor + 1, page.ids[0] - 1)
        found: dict[int, Post] = {}
        for p in pages:
            found.update(p.posts)
        all_ids = [i for p in pages for i in p.ids]
        top = max(all_ids) if all_ids else None
        new = [post for message_id, post in sorted(found.items())
               if cursor is None or message_id > cursor]
        return new, top

    async def _get_page(self, before: int | None) -> PreviewPage:
        params = {"before": str(before)} if before is not None else None
        client = self._http()
        try:
            resp = await client.get(self.url, params=params)
        except httpx.HTTPError as exc:
            raise PreviewError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        wait = _retry_after(resp.headers.get("Retry-After"))
        if resp.status_code == 429:
            raise PreviewError(f"{self.url}: HTTP 429 Too Many Requests", retry_after=wait)
        if resp.is_redirect:
            # t.me sends names without a public preview on to the contact page.
            raise PreviewError(f"@{self.username} has no public web preview (redirected to "
                               f"{resp.headers.get('Location', '?')})")
        if resp.status_code >= 400:
            raise PreviewError(f"{self.url}: HTTP {resp.status_code}", retry_after=wait)
        return parse_page(resp.text, self.username, self.source_id)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout, follow_redirects=True,
                headers={"User-Agent": USER_AGENT, "Accept-Language": "en"})
            self._owns_client = True
        return self._client

    # bookkeeping ------------------------------------------------------------------------------

    def _advance(self, message_id: int | None) -> None:
        if message_id is not None and (self.cursor is None or message_id > self.cursor):
            self.cursor = message_id

    def _succeeded(self, count: int) -> None:
        self._backoff.failures = 0
        self._backoff.until = None
        self.health.update(ok=True, last_ok=utcnow().isoformat(), backoff_until=None)
        self.health["posts"] += count

    def _failed(self, error: str, retry_after: float | None) -> float:
        """Record a failure; returns the delay before the next attempt."""
        self._backoff.failures += 1
        delay = min(self.max_backoff, self.interval * 2 ** self._backoff.failures)
        if retry_after is not None:
            delay = max(delay, retry_after)
        until = utcnow() + timedelta(seconds=delay)
        self._backoff.until = until
        self.health.update(ok=False, last_error=error, backoff_until=until.isoformat())
        log.warning("%s: %s; next try in %.1fs", self.source_id, error, delay)
        return delay

    def _current_delay(self) -> float:
        if self._backoff.until is None:
            return self.interval
        return max(0.0, (self._backoff.until - utcnow()).total_seconds())


async def _unless_stopped(coro: Awaitable[Any], stop: asyncio.Event) -> Any | None:
    """Await `coro` unless `stop` is set first (then cancel it and return None)."""
    work = asyncio.ensure_future(coro)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
    if work.cancelled():
        return None
    if stop.is_set():
        work.exception()  # retrieved, so asyncio does not warn; the round is dropped anyway
        return None
    return work.result()
