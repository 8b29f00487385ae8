"""Search over a large store: every query is exact, and how long the ones nothing can
prefilter take (`lang:`, `source:`, NOT-only, OR with `lang:`).

Usage: python benchmarks/search.py [--copies N]

Data: /work/shared/data/telegram-ru-2024/posts.jsonl.gz (22,099 real Russian news posts) when
present, else the bundled demo posts; `--copies` stores the set that many times (new keys) to
reach a larger store. Posts are stored without a language, as ingest stores unmatched posts,
so the first `lang:` search detects and records languages and the second reads them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.bootstrap import build_engine  # noqa: E402
from bot.demo import sample_posts_path  # noqa: E402
from bot.pipeline.query import parse  # noqa: E402
from bot.replay import read_posts  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.storage import open_store  # noqa: E402
from handlers.finder import count_posts, find_posts  # noqa: E402

DATA = Path("/work/shared/data/telegram-ru-2024/posts.jsonl.gz")
QUERIES = ["курск*", "entity:kursk", "NOT entity:kursk", "NOT курск*", "lang:uk", "lang:uk",
           "lang:ru OR курск*", "entity:ukraine AND NOT lang:ru"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=1)
    args = parser.parse_args()
    posts = list(read_posts(DATA if DATA.exists() else sample_posts_path(), []))
    engine = build_engine(Settings())
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "search.db")
        started = time.perf_counter()
        with store.transaction():
            for copy in range(args.copies):
                for post in posts:
                    post = dataclasses.replace(post, message_id=f"{post.message_id}.{copy}")
                    analysis, _ = engine.analyzer.analyze(post, detect=False)
                    store.save_post(post, analysis)
        total = store.count_posts()
        print(f"stored {total:,} posts in {time.perf_counter() - started:.1f}s")
        # Chat ids such as -1001465826763 cannot be typed after source:; use a typable one.
        typable = [p.source_id.lower() for p in posts if p.source_id[:1].isalnum()]
        extra = [f"source:{typable[0]}", f"source:{typable[0]} AND NOT курск*"] if typable else []
        for text in [*QUERIES, *extra]:
            query = parse(text)
            started = time.perf_counter()
            hits = find_posts(store, query, limit=10, budget=None, detector=engine.detector)
            first = time.perf_counter() - started
            started = time.perf_counter()
            count = count_posts(store, query, since=posts[0].date.replace(year=1970), budget=None,
                                detector=engine.detector)
            whole = time.perf_counter() - started
            print(f"{text:40} newest 10: {first * 1000:7.0f} ms ({len(hits)} hits)   "
                  f"all {int(count):6,} hits: {whole * 1000:7.0f} ms (candidates seen: "
                  f"{count.scanned:,})")
        store.close()


if __name__ == "__main__":
    main()
