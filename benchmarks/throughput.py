"""Throughput of ingest -> tag -> match on real posts, and of the full pipeline with storage.

Usage: python benchmarks/throughput.py [--posts N] [--subs N]

Data: /work/shared/data/telegram-ru-2024/posts.jsonl.gz (22,099 real Russian news posts,
CC BY 4.0, NKTKLN/telegram-news-classifier). The target is 20,000+ posts/s/core through
ingest -> tag -> match; language detection runs only for matched posts.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.bootstrap import build_engine  # noqa: E402
from bot.model import Room, Subscription  # noqa: E402
from bot.pipeline.query import parse  # noqa: E402
from bot.pipeline.runner import Pipeline  # noqa: E402
from bot.ports import chunked  # noqa: E402
from bot.replay import read_posts  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.storage import open_store  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared/data/telegram-ru-2024/posts.jsonl.gz"
ENTITY_IDS = ["north_korea", "russia", "ukraine", "kursk", "zelensky", "putin", "kremlin",
              "pentagon", "eu", "united_states", "south_korea", "gur", "russian_mod"]
WORDS = ["войск*", "ракет*", "санкци*", "переговор*", "атак*", "беспилотник*", "нефт*",
         "выбор*", '"курская область"', "обстрел*", "дрон*", "мобилизац*"]


def subscriptions(n: int) -> list[str]:
    """Varied, realistic queries: entity pairs, keywords with prefixes, phrases, NEAR."""
    out = []
    for i in range(n):
        a, b = ENTITY_IDS[i % len(ENTITY_IDS)], ENTITY_IDS[(i * 7 + 3) % len(ENTITY_IDS)]
        w = WORDS[i % len(WORDS)]
        kind = i % 4
        if kind == 0:
            out.append(f"entity:{a} AND entity:{b}")
        elif kind == 1:
            out.append(f"entity:{a} AND {w}")
        elif kind == 2:
            out.append(f"{w} AND NOT entity:{b}")
        else:
            out.append(f"({w} OR entity:{a}) AND topic:conflict")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=22099)
    parser.add_argument("--subs", type=int, default=100)
    args = parser.parse_args()
    posts = list(read_posts(DATA, []))[: args.posts]
    engine = build_engine(Settings())
    for i, text in enumerate(subscriptions(args.subs)):
        engine.analyzer.subscriptions.add(("room", f"s{i}"), parse(text))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{len(posts)} real posts, {args.subs} subscriptions")

    started = time.perf_counter()
    matched = 0
    for post in posts:
        _, matches = engine.analyzer.analyze(post, detect=False)
        matched += bool(matches)
    analyze_s = time.perf_counter() - started
    print(f"ingest -> tag -> topics -> match: {len(posts) / analyze_s:,.0f} posts/s "
          f"({analyze_s / len(posts) * 1e6:.1f} µs/post), {matched} posts matched")

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "bench.db")
        store.upsert_room(Room("room", "console", "room", None, "en"))
        for i, text in enumerate(subscriptions(args.subs)):
            store.add_subscription(Subscription(f"s{i}", "room", text))
        pipeline = Pipeline(store, engine.analyzer)
        started = time.perf_counter()
        alerts = 0
        for batch in chunked(posts, 500):
            with store.transaction():
                for post in batch:
                    alerts += len(pipeline.process(post).alert_ids)
        full_s = time.perf_counter() - started
        store.close()
    print(f"full pipeline with SQLite (language detection for matches, FTS, outbox): "
          f"{len(posts) / full_s:,.0f} posts/s, {alerts} alerts")


if __name__ == "__main__":
    main()
