"""This module contains `wirewatch search`: the /search command from the terminal."""

from __future__ import annotations

import json
from typing import IO

from bot.bootstrap import build_engine
from bot.errors import BadQuery, UserError
from bot.render import language_name, post_link, truncate
from bot.settings import Settings
from bot.storage import open_store
from handlers.finder import compile_query, find_posts


def search(settings: Settings, text: str, limit: int, as_json: bool, out: IO[str]) -> int:
    engine = build_engine(settings)
    try:
        query = compile_query(text, engine.watchlist.ids, engine.topics.ids)
    except BadQuery as exc:
        raise UserError(f"query error: {exc}") from None
    store = open_store(settings.storage)
    try:
        hits = find_posts(store, query, limit=max(1, limit), detector=engine.detector)
    finally:
        store.close()
    for sp in hits:
        if as_json:
            out.write(json.dumps({
                "id": sp.post.key, "source": sp.post.source_id, "date": sp.post.date.isoformat(),
                "lang": sp.lang, "url": post_link(sp.post), "text": sp.post.text,
            }, ensure_ascii=False) + "\n")
        else:
            out.write(f"{sp.post.date:%Y-%m-%d %H:%M} {sp.post.source_id} "
                      f"[{language_name(sp.lang)}] {post_link(sp.post) or ''}\n"
                      f"  {truncate(' '.join(sp.post.text.split()), 200)}\n")
    if not hits and not as_json:
        out.write("no stored posts match\n")
    return 0
