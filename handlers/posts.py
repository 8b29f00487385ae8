"""This module contains /recent and /search: reporters asking for stored posts."""

from __future__ import annotations

from bot.errors import BadQuery
from bot.ports import StoredPost
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


def post_item(sp: StoredPost, svc: Services) -> Item:
    names = [svc.watchlist[e].name if e in svc.watchlist else e for e in sp.entities]
    lang = sp.lang or "und"
    meta = f"{sp.post.date:%Y-%m-%d %H:%M} · {sp.post.source_id} · {language_name(lang)}"
    if names:
        meta += " · " + ", ".join(names)
    return Item(title=first_line(sp.post.text, 120) or "(no text)",
                body=truncate(sp.post.text, 300), url=post_link(sp.post), meta=meta)


async def _find(req: Request, svc: Services, default: int, need_query: bool) -> Reply:
    text, limit = split_limit(req.args, default)
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
    hits = find_posts(svc.store, query, limit=limit, detector=svc.pipeline.analyzer.detector)
    note = partial_note(hits) if isinstance(hits, Found) else ""
    if not hits:
        what = f" for {text}" if text else ""
        return Reply(f"No stored posts{what} yet." + note)
    head = f"{len(hits)} most recent post(s)" + (f" for {text}" if text else "")
    return Reply(head + ":" + note, items=tuple(post_item(sp, svc) for sp in hits))


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
