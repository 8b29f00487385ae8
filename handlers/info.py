"""This module contains the informational commands: start, help, status and test."""

from __future__ import annotations

import time

from bot.errors import StorageError
from bot.logsafe import redact
from bot.model import Post
from bot.render import language_name
from bot.text import sanitize
from handlers.context import Services
from handlers.request import Reply, Request, refuse

MAX_TEST_TEXT = 4096


async def start(req: Request, svc: Services) -> Reply:
    """Introduce the bot and list the commands."""
    from handlers import help_text

    return Reply("wirewatch monitors news channels in many languages and relays matching posts "
                 "here, translated.\n\n" + help_text())


async def help_(req: Request, svc: Services) -> Reply:
    """List the commands and the query language."""
    from handlers import help_text

    return Reply(help_text())


def _ago(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


async def status(req: Request, svc: Services) -> Reply:
    """Show the health of sources, outbox and translation."""
    health = svc.health()
    try:
        counts = svc.store.outbox_counts()
        lines = [f"Up {_ago(time.time() - svc.started)}; {svc.store.count_posts()} posts stored.",
                 "Outbox: " + ", ".join(f"{k} {v}" for k, v in counts.items())]
    except StorageError as exc:  # /status must answer most when the store is in trouble
        lines = [f"Up {_ago(time.time() - svc.started)}; the store cannot be read: {exc}"]
    storage = health.get("storage") or {}
    if storage.get("paused"):
        since = time.strftime("%H:%M:%S", time.gmtime(storage["since"]))
        lines.append(f"Storage: paused since {since} UTC, the store cannot write "
                     f"({storage.get('error')}); {storage.get('held', 0)} posts held in memory, "
                     f"stored once it can write again")
    room = svc.room_for(req.platform, req.chat, req.thread)
    here = f"{req.platform} chat {req.chat}" + (f", thread {req.thread}" if req.thread else "")
    if room:
        subs = svc.store.subscriptions(room.id)
        active = sum(1 for s in subs if not s.paused)
        lines.append(f"This room: {room.id}, language {room.language}, "
                     f"{active} active / {len(subs)} subscriptions ({here}).")
    else:
        # The id an operator needs to make this chat a room in the config.
        lines.append(f"This chat ({here}) is not a room.")
    for name, state in sorted(health.get("platforms", {}).items()):
        lines.append(f"Platform {name}: {state}")
    for source_id, state in sorted(health.get("sources", {}).items()):
        ok = "ok" if state.get("ok") else f"failing: {state.get('last_error') or 'not polled yet'}"
        extra = f", backing off until {state['backoff_until']}" if state.get("backoff_until") else ""
        lines.append(f"Source {source_id}: {ok}, {state.get('posts', 0)} posts{extra}")
    for source_id, flag in health.get("silence", {}).items():
        lines.append(f"⚠️ Source {source_id} {flag}")
    for provider, state in health.get("translation", {}).items():
        lines.append(f"Translator {provider}: {state}")
    if not health.get("translation"):
        lines.append("Translator: none configured")
    return Reply(redact("\n".join(lines)))  # error texts may quote a URL with a key in it


async def test(req: Request, svc: Services) -> Reply:
    """Dry-run a text: which entities, topics and subscriptions it would hit."""
    text = req.args.strip()
    if not text:
        return refuse("Usage: /test <text>")
    if len(text) > MAX_TEST_TEXT:
        return refuse(f"Text too long for /test (at most {MAX_TEST_TEXT} characters).")
    post = Post(source_id="test", platform=req.platform, chat=req.chat, message_id="0",
                text=sanitize(text))  # as the pipeline would see it
    analysis, matches = svc.pipeline.analyzer.analyze(post, detect=True)
    names = []
    for m in analysis.mentions:
        name = svc.watchlist[m.entity_id].name if m.entity_id in svc.watchlist else m.entity_id
        names.append(f"{name} («{m.surface}»)")
    room = svc.room_for(req.platform, req.chat, req.thread)
    here = [sub for room_id, sub in matches if room and room_id == room.id]
    elsewhere = sorted({room_id for room_id, _ in matches if not room or room_id != room.id})
    lines = [
        f"Language: {language_name(analysis.lang)} ({analysis.lang}, {analysis.lang_confidence:.2f})",
        "Entities: " + (", ".join(names) or "none"),
        "Topics: " + (", ".join(analysis.topics) or "none"),
        "Subscriptions here: " + (", ".join(here) or "none"),
    ]
    if elsewhere:
        lines.append("Would also alert rooms: " + ", ".join(elsewhere))
    lines.append("(dry run: nothing was stored or sent)")
    return Reply("\n".join(lines))
