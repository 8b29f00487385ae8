"""This module contains the search behind /recent, /search and the /subscribe dry run.

Our query language is evaluated exactly, in Python, on stored posts (newest first); SQLite's
FTS5 index narrows the candidates first when the query has words every hit must contain.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Collection, Iterator
from datetime import datetime

from bot.pipeline.language import LanguageDetector
from bot.pipeline.query import Doc, Query, parse
from bot.ports import Store, StoredPost
from bot.storage.fts import fts_prefilter
from bot.text import fold

# A phrase in any of the query language's quotes stays as typed; other tokens are bare.
log = logging.getLogger(__name__)

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
               detector: LanguageDetector | None = None) -> Doc:
    """A stored post as queries see it. Most posts were stored without a language (nothing
    wanted it then); a `lang:` query detects it now and records it for next time."""
    lang: str | None | Callable[[], str | None] = sp.lang
    if lang is None and detector is not None:
        def lang() -> str | None:
            found = detector.detect(sp.post.text)
            if store is not None:
                store.set_post_language(sp.id, found.lang, found.confidence)
            return found.lang
    return Doc(
        words=fold(sp.post.text).words(),
        entities=frozenset(sp.entities),
        topics=frozenset(sp.topics),
        source=sp.post.source_id,
        lang=lang,
    )


def find_posts(store: Store, query: Query | None, *, limit: int = 10,
               since: datetime | None = None, max_scan: int = 20000,
               detector: LanguageDetector | None = None) -> list[StoredPost]:
    """Newest stored posts for which `query` holds (all posts when query is None)."""
    hits: list[StoredPost] = []
    for sp in _candidates(store, query, since, max_scan):
        if query is None or query.evaluate(stored_doc(sp, store, detector)):
            hits.append(sp)
            if len(hits) >= limit:
                break
    return hits


def count_posts(store: Store, query: Query, *, since: datetime, max_scan: int = 20000,
                detector: LanguageDetector | None = None) -> int:
    return sum(1 for sp in _candidates(store, query, since, max_scan)
               if query.evaluate(stored_doc(sp, store, detector)))


def _candidates(store: Store, query: Query | None, since: datetime | None,
                max_scan: int) -> Iterator[StoredPost]:
    fts = fts_prefilter(query) if query is not None else None
    before: int | None = None
    scanned = 0
    while scanned < max_scan:
        try:
            page = store.search_posts(fts, since=since, limit=500, before_id=before)
        except sqlite3.OperationalError:
            if fts is None:
                raise
            log.warning("FTS refused the prefilter of %s; scanning instead", query)
            fts = None  # the exact evaluation below still decides every hit
            continue
        if not page:
            return
        yield from page
        scanned += len(page)
        before = min(sp.id for sp in page)
