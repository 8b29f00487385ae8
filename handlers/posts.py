"""This module contains /recent and /search: reporters asking for stored posts.

Posts grouped into one story show as one line (the newest report found) with the story's
source count and its /story id; `--raw` lists every post."""

from __future__ import annotations

from bot.errors import BadQuery
from bot.ports import Store, StoredPost, StoryRecord
from bot.render import first_line, language_name, post_link, truncate
from handlers.context import Services
from handlers.finder import Found, compile_query, find_posts
from handlers.request import Item, Reply, Request, refuse

MAX_LIMIT = 20


def split_limit(args: str, default: int) -> tuple[str, int]:
    """`/recent kursk 5`: a trailing number is the count, capped at MAX_LIMIT."""
    words = args.split()
    if words and words[-1].isascii() and words[-1].isdigit():  # not '²': int() refuses it
        return " ".join(words[:-1]), max(1, min(MAX_LIMIT, int(words[-1])))
    return args.strip(), default


RAW = "--raw"


def by_story(store: Store, hits: list[StoredPost], limit: int
             ) -> tuple[list[tuple[StoredPost, StoryRecord | None]], int]:
    """One hit per story, in the hits' order, up to `limit`; and how many were folded."""
    seen: set[str] = set()
    out: list[tuple[StoredPost, StoryRecord | None]] = []
    folded = 0
    for sp in hits:
        story_id = store.story_of_post(sp.post.key)
        if story_id is not None:
            if story_id in seen:
                folded += 1
                continue
            seen.add(story_id)
        if len(out) < limit:
            out.append((sp, store.get_story(story_id) if story_id else None))
    return out, folded


def post_item(sp: StoredPost, svc: Services, story: StoryRecord | None = None) -> Item:
    names = [svc.watchlist[e].name if e in svc.watchlist else e for e in sp.entities]
    lang = sp.lang or "und"
    meta = f"{sp.post.date:%Y-%m-%d %H:%M} · {sp.post.source_id} · {language_name(lang)}"
    if names:
        meta += " · " + ", ".join(names)
    if story is not None and story.posts > 1:
        meta += f" · {len(story.sources)} sources · /story {story.id}"
    return Item(title=first_line(sp.post.text, 120) or "(no text)",
                body=truncate(sp.post.text, 300), url=post_link(sp.post), meta=meta)


async def _find(req: Request, svc: Services, default: int, need_query: bool) -> Reply:
    words = req.args.split()
    raw = RAW in words
    text, limit = split_limit(" ".join(w for w in words if w != RAW), default)
    if isinstance(req.options.get("limit"), int):
        limit = max(1, min(MAX_LIMIT, int(req.options["limit"])))  # type: ignore[arg-type]
    if need_query and not text:
        return refuse(f"Usage: /{req.command} <query>, e.g. /{req.command} entity:kursk AND troops")
    query = None
    if text:
        try:
            query = compile_query(text, svc.watchlist.ids, svc.topics.ids)
        except BadQuery as exc:
            return refuse(f"Query error: {exc}")
    # Reports of one story fold into one line: look further back to fill the page.
    hits = find_posts(svc.store, query, limit=limit if raw else limit * 3,
                      detector=svc.pipeline.analyzer.detector)
    note = partial_note(hits) if isinstance(hits, Found) else ""
    if not hits:
        what = f" for {text}" if text else ""
        return Reply(f"No stored posts{what} yet." + note)
    if raw:
        shown: list[tuple[StoredPost, StoryRecord | None]] = [(sp, None) for sp in hits[:limit]]
        folded = 0
    else:
        shown, folded = by_story(svc.store, list(hits), limit)
    head = f"{len(shown)} most recent post(s)" + (f" for {text}" if text else "")
    if folded:
        head += f" ({folded} more report(s) of the same stories folded; add {RAW} to list them)"
    return Reply(head + ":" + note, items=tuple(post_item(sp, svc, story) for sp, story in shown))


def partial_note(found: Found) -> str:
    """The line that says a search stopped before it had looked at every stored post."""
    if not found.partial:
        return ""
    return (f"\nPartial: only the newest {found.scanned:,} candidate posts were searched in the "
            "time allowed; add words or a source: to narrow the query.")


async def recent(req: Request, svc: Services) -> Reply:
    """Show the newest posts, optionally matching a query: /recent [query] [n]."""
    return await _find(req, svc, 5, need_query=False)


async def search(req: Request, svc: Services) -> Reply:
    """Search stored posts with the query language: /search <query> [n]."""
    return await _find(req, svc, 10, need_query=True)
