"""This module contains `wirewatch replay`: a file of posts through the real pipeline.

Accepts our own post JSON lines and the export format of the shared Telegram data set
(`channel_id`, `message_id`, `date`, `channel`, `text`), plain or gzipped.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.bootstrap import App
from bot.codec import post_from_dict
from bot.errors import WirewatchError
from bot.model import Post
from bot.platforms.console import ConsolePlatform
from bot.ports import chunked
from bot.settings import Settings
from bot.storage import open_store

BATCH = 500


def read_posts(path: str | Path, errors: list[str]) -> Iterator[Post]:
    path = Path(path)
    try:
        handle = gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(
            path, encoding="utf-8")
    except OSError as exc:
        raise WirewatchError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        try:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield record_to_post(json.loads(line))
                except (ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
                    errors.append(f"line {lineno}: {type(exc).__name__}: {exc}")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise WirewatchError(f"{path} is not a readable JSONL(.gz) file: {exc}") from None


def record_to_post(data: dict) -> Post:
    if not isinstance(data, dict):
        raise TypeError("a post must be a JSON object")
    for key in ("text", "channel", "author", "url", "origin"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise TypeError(f"{key!r} must be text")
    if "source_id" in data:
        return post_from_dict(data)
    chat = str(data["channel_id"])
    return post_from_dict({
        "source_id": chat, "platform": "telegram", "chat": chat,
        "message_id": data["message_id"], "text": data.get("text") or "", "date": data["date"],
        "author": data.get("channel"),
    })


async def replay(settings: Settings, file: str, *, deliver: bool = False, limit: int | None = None,
                 in_memory: bool = False, console: Console | None = None) -> int:
    console = console or Console(stderr=True)
    store = open_store(settings.storage, in_memory=True) if in_memory else None
    app = App.open(settings, store=store)
    errors: list[str] = []
    by_room: Counter[str] = Counter()
    by_topic: Counter[str] = Counter()
    by_entity: Counter[str] = Counter()
    posts = 0
    try:
        if deliver:
            app.attach({"console": ConsolePlatform(app.engine.renderer)})
        started = time.perf_counter()
        with Progress(TextColumn("replay"), BarColumn(), TextColumn("{task.completed} posts"),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("replay", total=None)
            stream = read_posts(file, errors)
            for batch in chunked(stream, BATCH):
                if limit is not None:
                    batch = batch[: max(0, limit - posts)]
                with app.store.transaction():
                    for post in batch:
                        outcome = await app.ingest(post)
                        if outcome is None:
                            continue
                        for topic in outcome.analysis.topics:
                            by_topic[topic] += 1
                        for entity in outcome.analysis.entity_ids:
                            by_entity[entity] += 1
                        if outcome.alert_ids:
                            rooms = {room for room, _ in outcome.matches}
                            for room in rooms:
                                by_room[room] += 1
                posts += len(batch)
                progress.update(task, completed=posts)
                if limit is not None and posts >= limit:
                    break
        elapsed = time.perf_counter() - started
        if deliver and app.relay is not None:
            await app.relay.drain()
    finally:
        await app.aclose()
    out = Console()
    out.print(f"[bold]{posts}[/] posts in {elapsed:.1f}s ({posts / max(elapsed, 1e-9):,.0f} posts/s, "
              f"with storage); {sum(by_room.values())} alerts; {len(errors)} bad lines")
    for title, counter in (("alerts by room", by_room), ("posts by topic", by_topic),
                           ("posts by entity", by_entity)):
        table = Table(title=title, title_justify="left")
        table.add_column(title.split()[-1])
        table.add_column("count", justify="right")
        for key, count in counter.most_common(25):
            table.add_row(key, str(count))
        out.print(table if counter else f"{title}: none")
    for err in errors[:5]:
        console.print(f"[yellow]skipped {err}")
    return 0
