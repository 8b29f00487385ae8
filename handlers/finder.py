"""This module contains the search behind /recent, /search and the /subscribe dry run.

Our query language is evaluated exactly, in Python, on the candidates the store returns for
the parsed query (newest first, paged by id): the engine narrows them with its own index
(FTS5 for SQLite) and with plain conditions on entity, topic, source and a stored language.
A query nothing narrows (`NOT kursk`) scans every post; a search that runs out of its time or
row budget says its result is partial instead of silently returning a fraction.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Iterator
from datetime import datetime

from bot.errors import StorageError
from bot.pipeline.language import LanguageDetector
from bot.pipeline.query import Doc, Query, parse
from bot.ports import Store, StoredPost
from bot.text import fold

log = logging.getLogger(__name__)

PAGE = 500  # candidates per store call
SEARCH_BUDGET = 8.0  # seconds one search may take before its result is marked partial
DEFAULT_BUDGET = -1.0  # "use SEARCH_BUDGET"
# A phrase in any of the query language's quotes stays as typed; other tokens are bare.
_BARE_RE = re.compile(r'["“”„«][^"“”„«»]*["“”„»]|\S+')
_QUOTE_OPEN = tuple('"“”„«')


def expand_names(text: str, entity_ids: Collection[str], topic_ids: Collection[str]) -> str:
    """Let reporters type `/recent kursk`: a bare word that is an entity or topic id also
    matches the tag, so Russian «Курской» posts are found by the English id."""
    if "NEAR/" in text:
        return text  # NEAR takes only words and phrases: leave such a query as typed
    out = []
    for token in _BARE_RE.findall(text):
        core = token.strip("()")
        lower = core.lower()
        if ":" not in core and not core.startswith(_QUOTE_OPEN) and core not in ("AND", "OR", "NOT"):
            if lower in entity_ids:
                token = token.replace(core, f"({core} OR entity:{lower})")
            elif lower in topic_ids:
                token = token.replace(core, f"({core} OR topic:{lower})")
        out.append(token)
    return " ".join(out)


def compile_query(text: str, entity_ids: Collection[str], topic_ids: Collection[str]) -> Query:
    """Parse what the user typed (so errors point into it), then widen bare entity names."""
    typed = parse(text, known_entities=entity_ids)
    expanded = expand_names(text, entity_ids, topic_ids)
    return typed if expanded == text else parse(expanded, known_entities=entity_ids)


def stored_doc(sp: StoredPost, store: Store | None = None,
               detector: LanguageDetector | None = None,
               detected: list[tuple[int, str, float]] | None = None) -> Doc:
    """A stored post as queries see it. Most posts were stored without a language (nothing
    wanted it then); a `lang:` query detects it now and records it for next time: at once,
    or appended to `detected` for the caller to write in one transaction."""
    lang: str | None | Callable[[], str | None] = sp.lang
    if lang is None and detector is not None:
        def lang() -> str | None:
            found = detector.detect(sp.post.text)
            if detected is not None:
                detected.append((sp.id, found.lang, found.confidence))
            elif store is not None:
                store.set_post_language(sp.id, found.lang, found.confidence)
            return found.lang
    return Doc(
        words=fold(sp.post.text).words(),
        entities=frozenset(sp.entities),
        topics=frozenset(sp.topics),
        source=sp.post.source_id,
        lang=lang,
    )


class Found(list[StoredPost]):
    """The hits of a search, newest first. `partial` is True when the search stopped at its
    time or row budget before it had looked at every candidate: there may be more (or, for
    a limit, newer unseen ones), and the reply says so. `scanned` counts candidates seen."""

    def __init__(self, hits: list[StoredPost] | None = None, *, partial: bool = False,
                 scanned: int = 0) -> None:
        super().__init__(hits or [])
        self.partial = partial
        self.scanned = scanned


class Count(int):
    """A number of hits that also says whether it is `partial` (see Found)."""

    partial: bool
    scanned: int

    def __new__(cls, value: int, *, partial: bool = False, scanned: int = 0) -> Count:
        self = super().__new__(cls, value)
        self.partial = partial
        self.scanned = scanned
        return self


def find_posts(store: Store, query: Query | None, *, limit: int = 10,
               since: datetime | None = None, budget: float | None = DEFAULT_BUDGET,
               max_scan: int | None = None, detector: LanguageDetector | None = None) -> Found:
    """Newest stored posts for which `query` holds (all posts when query is None).

    Exact at any size: every candidate the store returns is evaluated, page after page,
    until `limit` hits, the end, or the budget (`budget` seconds, SEARCH_BUDGET unless
    given; `max_scan` candidates; None for no bound), which marks the result partial. At
    least one page is always looked at."""
    found = Found()
    for sp in _scan(store, query, since, budget, max_scan, detector, found):
        found.append(sp)
        if len(found) >= limit:
            break  # the newest `limit` hits are all there: not partial
    return found


def count_posts(store: Store, query: Query, *, since: datetime, budget: float | None = DEFAULT_BUDGET,
                max_scan: int | None = None, detector: LanguageDetector | None = None) -> Count:
    """How many stored posts since `since` the query holds for (partial: at least that many)."""
    found = Found()
    hits = sum(1 for _ in _scan(store, query, since, budget, max_scan, detector, found))
    return Count(hits, partial=found.partial, scanned=found.scanned)


def _scan(store: Store, query: Query | None, since: datetime | None, budget: float | None,
          max_scan: int | None, detector: LanguageDetector | None,
          progress: Found) -> Iterator[StoredPost]:
    """The hits among the store's candidates, newest first; sets progress.partial/scanned."""
    if budget is not None and budget < 0:
        budget = SEARCH_BUDGET  # read now, so a deployment (or a test) may change it
    deadline = None if budget is None else time.monotonic() + budget
    before: int | None = None
    while True:
        if progress.scanned and ((deadline is not None and time.monotonic() > deadline) or (
                max_scan is not None and progress.scanned >= max_scan)):
            # Out of budget; partial only if some candidate is really left unseen.
            progress.partial = bool(store.search_posts(query, since=since, limit=1,
                                                       before_id=before))
            log.info("search %s stopped at its budget after %d candidates", query, progress.scanned)
            return
        page = store.search_posts(query, since=since, limit=PAGE, before_id=before)
        if not page:
            return
        progress.scanned += len(page)
        before = page[-1].id
        detected: list[tuple[int, str, float]] = []
        hits = [sp for sp in page
                if query is None or query.evaluate(stored_doc(sp, store, detector, detected))]
        if detected:  # one write for the page, not one per post
            try:
                with store.transaction():
                    for post_id, lang, confidence in detected:
                        store.set_post_language(post_id, lang, confidence)
            except StorageError as exc:  # only a cache of the detection: the search stands
                log.warning("could not record %d detected languages: %s", len(detected), exc)
        yield from hits
        if len(page) < PAGE:
            return
