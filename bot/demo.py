"""This module contains `wirewatch demo`: bundled sample posts through the real pipeline.

No tokens, no network: the posts are the seed story (North Korean troops in the Kursk region)
as reported in English, Russian, Ukrainian, Korean and German, mixed with unrelated posts; the
store is a fresh SQLite file; the rooms are console rooms.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from bot.bootstrap import App
from bot.platforms.console import ConsolePlatform
from bot.replay import read_posts
from bot.settings import load_settings
from bot.storage import open_store


def _command() -> str:
    """How the user can call us again: `.venv/bin/wirewatch` after `make demo`."""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 if argv0.endswith("wirewatch") and os.sep in argv0 else "wirewatch"


def sample_posts_path() -> Path:
    return Path(str(resources.files("bot").joinpath("data/demo_posts.jsonl")))


async def demo(console: Console | None = None) -> int:
    from config import path as bundled

    console = console or Console(highlight=False)
    settings = load_settings(bundled("demo.yaml"))
    db = Path(settings.storage.path)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)  # each demo starts from a clean store
    app = App.open(settings, store=open_store(settings.storage))
    console.print(Rule("wirewatch demo"))
    rooms = ", ".join(f"{r.id} (alerts in {r.language})" for r in app.store.rooms())
    console.print(escape(f"Replaying bundled sample posts into {db}; rooms: {rooms}\n"))
    relay = app.attach({"console": ConsolePlatform(app.engine.renderer, console)})
    errors: list[str] = []
    posts = list(read_posts(sample_posts_path(), errors))
    langs: Counter[str] = Counter()
    alerted = joined = 0
    try:
        for post in posts:
            outcome = await app.ingest(post)
            if outcome is None:
                continue
            joined += len(outcome.joined)
            if outcome.alert_ids:
                alerted += 1
                langs[outcome.analysis.lang or "und"] += 1
            await relay.deliver_due()
        await relay.drain(timeout=10)
        counts = app.store.outbox_counts()
    finally:
        await app.aclose()
    console.print(Rule("summary"))
    console.print(
        f"{len(posts)} posts replayed; {alerted} matched a room "
        f"({', '.join(f'{k} {v}' for k, v in langs.most_common())}); "
        f"{len(posts) - alerted} stayed quiet; {joined} report(s) joined a story a room had "
        f"already (an update, not a new alert).\n"
        f"Alerts delivered: {counts['sent']}, pending: {counts['pending']}, failed: {counts['failed']}.\n"
        f"Try: {_command()} search 'entity:kursk' --limit 3   (uses the demo store {db})"
    )
    return 0 if not errors else 1
