"""This module contains /story: the sources of one story, with links."""

from __future__ import annotations

from bot.render import first_line, language_name, post_link
from handlers.context import Services
from handlers.request import Item, Reply, Request, refuse

MAX_POSTS = 20


async def story(req: Request, svc: Services) -> Reply:
    """List a story's sources with links: /story <id> (a story id, or any of its posts)."""
    wanted = req.args.strip()
    if not wanted:
        return refuse("Usage: /story <id>, e.g. /story gur:-1001234:56 (ids are in /recent)")
    store = svc.store
    record = store.get_story(wanted)
    if record is None:
        parent = store.story_of_post(wanted)
        record = store.get_story(parent) if parent else None
    if record is None:
        return refuse(f"No story {wanted}: a story id is the id of its first post "
                      "(see /recent).")
    links = store.story_links(record.id)
    items = []
    for link in links[:MAX_POSTS]:
        sp = store.get_post(link.post_key)
        if sp is None:
            continue
        lang = sp.lang or "und"
        items.append(Item(title=first_line(sp.post.text, 120) or "(no text)",
                          url=post_link(sp.post),
                          meta=f"{sp.post.date:%Y-%m-%d %H:%M} · {sp.post.source_id} · "
                               f"{language_name(lang)}"))
    languages = ", ".join(language_name(code) for code in record.languages) or "unknown"
    head = (f"Story {record.id}: {record.posts} post(s) from {len(record.sources)} source(s) "
            f"({', '.join(record.sources)}) in {languages}, {record.first_seen:%Y-%m-%d %H:%M}"
            f" – {record.last_seen:%Y-%m-%d %H:%M} UTC")
    if len(links) > MAX_POSTS:
        head += f"; the first {MAX_POSTS} are listed"
    return Reply(head + ":", items=tuple(items))
