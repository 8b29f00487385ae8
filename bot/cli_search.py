"""This module contains `wirewatch search`: the /search command from the terminal.

Everything it prints comes from stored posts, so every field passes `bot.terminal` first.
It only reads: a missing store is an error, not a new empty file in the current folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import yaml

from bot.errors import BadQuery, UserError
from bot.pipeline.entities import BUNDLED_PATH, Watchlist
from bot.pipeline.language import LanguageDetector
from bot.pipeline.topics import Topics
from bot.ports import StoredPost
from bot.render import language_name, post_link, truncate
from bot.settings import Settings
from bot.storage import open_store
from bot.terminal import json_line, safe, safe_line
from handlers.finder import compile_query, find_posts


def store_path(settings: Settings) -> str:
    """The store's file as open_store will see it ('~' and env vars expanded)."""
    return os.path.expandvars(os.path.expanduser(settings.storage.path))


def search(settings: Settings, text: str, limit: int, as_json: bool, out: IO[str], *,
           configured: bool = True) -> int:
    if limit < 1:
        raise UserError(f"--limit must be at least 1 (got {limit})")
    # Not bootstrap.build_engine: a query only names entities and topics, so the aliases are
    # never expanded, the tagger never built, and no translator or relay module is imported.
    entity_ids = watchlist_ids(settings.entities)
    topics = Topics.load(settings.topics, known_entities=set(entity_ids))
    detector = LanguageDetector(settings.languages.candidates, settings.languages.min_confidence)
    try:
        query = compile_query(text, entity_ids, topics.ids)
    except BadQuery as exc:
        raise UserError(f"query error: {exc}") from None
    path = store_path(settings)
    if path != ":memory:" and not Path(path).is_file():
        how = ("replay or run with that config first" if configured else
               "run `wirewatch demo` first or pass --config")
        raise UserError(f"no store at {path}; {how}")
    store = open_store(settings.storage)
    try:
        hits = find_posts(store, query, limit=limit, detector=detector)
        names = {s.id: s.name or s.id for s in store.sources()}
    finally:
        store.close()
    for sp in hits:
        # Most posts are stored without a language (nothing needed it): detect it to show it.
        lang = sp.lang or detector.detect(sp.post.text).lang
        source = source_name(sp, names)
        if as_json:
            out.write(json_line({
                "id": sp.post.key, "source": sp.post.source_id, "source_name": source,
                "date": sp.post.date.isoformat(), "lang": lang, "url": post_link(sp.post),
                "text": sp.post.text,
            }) + "\n")
        else:
            link = post_link(sp.post)
            out.write(safe_line(f"{sp.post.date:%Y-%m-%d %H:%M} {source} "
                                f"[{language_name(lang)}]" + (f" {link}" if link else "")) + "\n"
                      + "  " + safe_line(truncate(" ".join(safe(sp.post.text).split()), 200))
                      + "\n")
    if not hits and not as_json:
        out.write("no stored posts match\n")
    return 0


def watchlist_ids(path: str | None) -> list[str]:
    """The watchlist's entity ids, read without expanding a single alias; a file that is not
    a plain watchlist goes through the full loader for its exact error message."""
    source = Path(path) if path is not None else BUNDLED_PATH
    try:
        data = yaml.load(source.read_text(encoding="utf-8"),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        ids = [str(entry["id"]) for entry in data["entities"]]
    except (OSError, UnicodeError, yaml.YAMLError, KeyError, TypeError):
        return Watchlist.load(path).ids  # raises the ConfigError that says what is wrong
    if not ids or len(set(ids)) != len(ids):
        return Watchlist.load(path).ids
    return ids


def source_name(sp: StoredPost, names: dict[str, str]) -> str:
    """What a reader calls the source: a known source's name (or the id it was given); for
    posts of no known source (replayed exports: numeric chat ids), the channel title or
    author the post carries."""
    return names.get(sp.post.source_id) or sp.post.author or sp.post.source_id
