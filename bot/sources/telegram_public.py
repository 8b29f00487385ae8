"""This module contains the `telegram_public` source: public channels read via their web preview.

Channels the bot cannot join are still readable at `https://t.me/s/<username>`, an HTML page of
the latest posts. `TelegramPublicFetcher` fetches that page and parses it with selectolax; its
cursor is the highest message id seen, so nothing is emitted twice, and it follows `?before=`
pages to close a gap when more posts arrived than one page holds. Timing, backoff, Retry-After
and health are the generic poller's (`bot.sources.poller.Poller`), as for every polled source.

Markup relied on (stable for years, but it is a web page, not an API):
`div.tgme_widget_message[data-post="<channel>/<id>"]` per post, `service_message` in its class
for pins and renames, `.tgme_widget_message_text.js-message_text` for text or caption (a reply's
quote uses `js-message_reply_text` instead), `a.tgme_widget_message_date time[datetime]` for the
date, `.tgme_widget_message_forwarded_from_name` for forwards, `.tgme_widget_message_from_author`
for signatures, `a.tme_messages_more[data-before]` for the previous page, and
`section.tgme_channel_history` for the list itself. Emoji are `<i class="emoji"><b>🔥</b></i>`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.errors import SourceError
from bot.model import Post, utcnow
from bot.ports import Batch
from bot.sources import http

log = logging.getLogger(__name__)

PLATFORM = "telegram_public"
USER_AGENT = "Mozilla/5.0 (compatible; wirewatch/0.1; public channel preview reader)"
_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_LINK_RE = re.compile(r"^(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me)/(?:s/)?([^/?#]+)", re.I)
_SPACE_RE = re.compile(r"[ \t\r\n\f]+")  # not \s: a non-breaking space is content
_BLOCK_TAGS = frozenset({"div", "p", "blockquote", "pre", "ul", "ol", "li", "tr", "h1", "h2",
                         "h3", "h4"})
_SKIP_TAGS = frozenset({"script", "style", "svg", "video", "audio", "template"})
MAX_PAGE = 2 * 1024 * 1024  # a preview page is ~100 kB


class PreviewError(SourceError):
    """The page is no channel preview: private, unknown, not a channel, or not a preview."""


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
    try:
        _collect(node, parts)
    except RecursionError:  # markup nested thousands deep: keep its words, lose the layout
        parts = [_SPACE_RE.sub(" ", node.text(separator=" ") or "")]
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


class TelegramPublicFetcher:
    """Fetches one public channel's web preview: the `bot.ports.Fetcher` of a t.me/s source.

    The cursor is the highest message id seen (service and media-only messages included), as
    a decimal string. `max_pages` bounds the walk back through older pages, `timeout` is the
    HTTP timeout of an owned client (a given `client` is used as is and not closed).
    """

    kind = PLATFORM

    def __init__(self, source_id: str, username: str, *, base_url: str = "https://t.me/s/",
                 client: httpx.AsyncClient | None = None, max_pages: int = 5,
                 timeout: float = 20.0) -> None:
        self.source_id = source_id
        self.username = normalize_username(username)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.max_pages = max(1, max_pages)
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.username}"

    async def aclose(self) -> None:
        """Close the HTTP client if this fetcher created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, cursor: str | None) -> Batch:
        """Posts after `cursor`, oldest first; with no cursor, every post on the first page.

        Raises SourceError (a PreviewError or an HTTP failure, with `retry_after` when the
        server asked for one)."""
        after = _cursor(cursor, self.source_id)
        posts, top = await self._fetch_new(after)
        known = [x for x in (after, top) if x is not None]  # the cursor only moves forward
        return Batch([(post, post.message_id) for post in posts],
                     str(max(known)) if known else None)

    async def _fetch_new(self, cursor: int | None) -> tuple[list[Post], int | None]:
        page = await self._get_page(None)
        pages = [page]
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
        got = await http.get(self._http(), self.url, params=params, max_bytes=MAX_PAGE)
        if got.response.is_redirect:
            # t.me sends names without a public preview on to the contact page.
            raise PreviewError(f"@{self.username} has no public web preview (redirected to "
                               f"{got.response.headers.get('Location', '?')})")
        http.check_status(got.response, self.url)
        return parse_page(got.text, self.username, self.source_id)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = http.make_client(timeout=self._timeout, headers={
                "User-Agent": USER_AGENT, "Accept-Language": "en"})
            self._owns_client = True
        return self._client


def _cursor(value: str | None, source_id: str) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        log.warning("%s: stored cursor %r is not a message id; starting from the newest page",
                    source_id, value)
        return None
    return int(value)
