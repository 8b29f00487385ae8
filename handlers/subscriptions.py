"""This module contains the subscription commands: subscribe, unsubscribe, list, pause, resume."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.errors import BadQuery
from bot.model import Subscription, utcnow
from handlers.context import Services
from handlers.finder import compile_query, count_posts, find_posts
from handlers.guards import moderator_only
from handlers.posts import post_item
from handlers.request import Reply, Request, refuse

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def _new_id(svc: Services, room_id: str) -> str:
    taken = {s.id for s in svc.store.subscriptions(room_id)}
    n = 1
    while f"s{n}" in taken:
        n += 1
    return f"s{n}"


@moderator_only
async def subscribe(req: Request, svc: Services) -> Reply:
    """Alert this room on posts matching a query: /subscribe <query>."""
    text = req.args.strip()
    if not text:
        return refuse("Usage: /subscribe <query>, e.g. /subscribe entity:north_korea AND entity:kursk")
    try:
        query = compile_query(text, svc.watchlist.ids, svc.topics.ids)
    except BadQuery as exc:
        return refuse(f"Query error: {exc}")
    room = svc.room_to_change(req)
    sub = Subscription(_new_id(svc, room.id), room.id, str(query.source), created_by=req.actor)
    svc.store.add_subscription(sub)
    svc.store.audit(req.actor, "subscribe", room.id, id=sub.id, query=sub.query)
    svc.pipeline.reload()
    since = utcnow() - timedelta(hours=24)
    detector = svc.pipeline.analyzer.detector
    count = count_posts(svc.store, query, since=since, detector=detector)
    newest = find_posts(svc.store, query, limit=3, since=since, detector=detector)
    text = (f"Subscribed as {sub.id}: {sub.query}\nDry run: {count} stored post(s) of the last "
            f"24 hours would have matched.")
    if count > 50:
        text += " That is a lot: consider narrowing the query."
    if getattr(count, "partial", False):  # the search ran out of time: at least that many
        text += f" (Partial: only the newest {count.scanned:,} candidate posts were counted.)"
    return Reply(text, items=tuple(post_item(sp, svc) for sp in newest))


def _target(req: Request, svc: Services, verb: str) -> tuple[str, str] | Reply:
    sub_id = req.args.strip()
    if not sub_id or not _ID_RE.match(sub_id):
        return refuse(f"Usage: /{verb} <id> (see /subscriptions)")
    room = svc.room_for(req.platform, req.chat, req.thread)
    if room is None:
        return refuse("This chat has no subscriptions yet.")
    return room.id, sub_id


@moderator_only
async def unsubscribe(req: Request, svc: Services) -> Reply:
    """Remove a subscription: /unsubscribe <id>."""
    target = _target(req, svc, "unsubscribe")
    if isinstance(target, Reply):
        return target
    room_id, sub_id = target
    if not svc.store.remove_subscription(room_id, sub_id):
        return refuse(f"No subscription {sub_id} here (see /subscriptions).")
    svc.store.audit(req.actor, "unsubscribe", room_id, id=sub_id)
    svc.pipeline.reload()
    return Reply(f"Removed subscription {sub_id} (room {room_id}).")


async def _set_paused(req: Request, svc: Services, paused: bool) -> Reply:
    verb = "pause" if paused else "resume"
    target = _target(req, svc, verb)
    if isinstance(target, Reply):
        return target
    room_id, sub_id = target
    if not svc.store.set_subscription_paused(room_id, sub_id, paused):
        return refuse(f"No subscription {sub_id} here (see /subscriptions).")
    svc.store.audit(req.actor, verb, room_id, id=sub_id)
    svc.pipeline.reload()
    return Reply(f"Subscription {sub_id} {'paused' if paused else 'resumed'} (room {room_id}).")


@moderator_only
async def pause(req: Request, svc: Services) -> Reply:
    """Mute a subscription but keep its query: /pause <id>."""
    return await _set_paused(req, svc, True)


@moderator_only
async def resume(req: Request, svc: Services) -> Reply:
    """Unmute a paused subscription: /resume <id>."""
    return await _set_paused(req, svc, False)


async def subscriptions(req: Request, svc: Services) -> Reply:
    """List this room's subscriptions and keywords."""
    room = svc.room_for(req.platform, req.chat, req.thread)
    if room is None:
        return Reply("This chat is not a wirewatch room yet: a moderator can /subscribe <query>.")
    subs = svc.store.subscriptions(room.id)
    lines = [f"Room {room.id} (language {room.language}):"]
    for s in subs:
        lines.append(f"• {s.id}{' (paused)' if s.paused else ''}: {s.query}")
    keywords = svc.store.keywords(room.id)
    if keywords:
        lines.append("Keywords: " + ", ".join(k.keyword for k in keywords))
    if not subs and not keywords:
        lines.append("No subscriptions. A moderator can /subscribe <query>.")
    return Reply("\n".join(lines))
