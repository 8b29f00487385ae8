"""This module contains the subscription-matching benchmark: 10 vs 1,000 vs 10,000 subscriptions
on real posts, indexed (`Matcher`) against evaluating every query.

Data: /work/shared/data/telegram-ru-2024/posts.jsonl.gz (22,099 Russian news posts from public
Telegram channels; dataset of NKTKLN/telegram-news-classifier, CC BY 4.0, see the README there).

    .venv/bin/python -m benchmarks.subscriptions                    # full run
    .venv/bin/python -m benchmarks.subscriptions --posts 5000 --sizes 10,1000

Subscriptions are generated from the corpus with a fixed seed, as newsroom users write them:
entity combinations, Russian keywords with prefixes, exact phrases, NEAR, NOT, topics, sources,
plus some Korean/English queries that never fire on this corpus. Entities come from the real
tagger (bot.pipeline.entities) when its watchlist loads, else from a small stand-in alias list.
Prints a markdown table: parse and index build time, µs per post (Doc construction + match),
posts/s, average candidates and matches per post, and the naive one-by-one evaluation for
comparison; then the runner's whole per-post path stage by stage. Timings are the best of
--repeat runs, as the machine may be shared; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.pipeline.matcher import Matcher
from bot.pipeline.query import Doc, Query, parse
from bot.pipeline.topics import Topics
from bot.text import Folded, fold, nfc

DATA = Path(os.environ.get("WIREWATCH_POSTS", "/work/shared/data/telegram-ru-2024/posts.jsonl.gz"))
ENTITY_IDS = (
    "north_korea", "russia", "ukraine", "kursk", "zelensky", "gur", "pentagon", "pat_ryder",
    "kremlin", "russian_mod", "eu", "united_kingdom", "united_states", "australia",
    "south_korea", "us_treasury", "plekhovo", "vorobzha", "martynovka", "putin", "kim_jong_un",
)
# Stand-in tagger, used only when the real watchlist is not available.
_STAND_IN = {
    "russia": "росси* OR рф OR российск*", "ukraine": "украин* OR киев*",
    "kursk": "курск* OR курщин*", "zelensky": "зеленск*", "putin": "путин*", "kremlin": "кремл*",
    "north_korea": 'кндр OR северокорейск* OR пхеньян* OR "северн* коре*"',
    "russian_mod": "минобороны", "pentagon": "пентагон*", "united_states": "сша",
    "eu": "евросоюз* OR ес", "kim_jong_un": '"ким чен ын*"', "south_korea": '"южн* коре*"',
}


@dataclass(frozen=True, slots=True)
class Prepared:
    text: str
    words: list[str]
    entities: frozenset[str]
    source: str


def load_posts(limit: int | None) -> list[dict]:
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        posts = [json.loads(line) for line in fh]
    return posts[:limit] if limit else posts


def make_tagger() -> tuple[str, Callable[[Folded], frozenset[str]]]:
    """Entity ids of a folded post, from the real tagger if its watchlist loads."""
    try:
        from bot.pipeline.entities import Tagger, Watchlist

        tagger = Tagger(Watchlist.load())
        return "bot.pipeline.entities", lambda folded: frozenset(
            m.entity_id for m in tagger.tag(folded))
    except Exception as exc:  # the watchlist is another engineer's work in progress
        print(f"(real tagger unavailable: {exc.__class__.__name__}; using the stand-in)",
              file=sys.stderr)
    rules = {e: parse(q) for e, q in _STAND_IN.items()}

    def tag(folded: Folded) -> frozenset[str]:
        doc = Doc(folded.words())
        return frozenset(e for e, q in rules.items() if q.evaluate(doc))

    return "stand-in aliases", tag


def prepare(posts: list[dict], tag: Callable[[Folded], frozenset[str]]) -> list[Prepared]:
    out = []
    for post in posts:
        text = nfc(post["text"])
        folded = fold(text)
        out.append(Prepared(text, folded.words(), tag(folded), f"tg{abs(post['channel_id'])}"))
    return out


def vocabulary(prepared: Sequence[Prepared]) -> tuple[list[str], list[str]]:
    """Keywords (in 0.05%-1% of posts, like a newsroom's names and terms) and two-word phrases
    seen 5-300 times."""
    df: Counter[str] = Counter()
    bigrams: Counter[str] = Counter()
    cyr = re.compile(r"^[а-яіїєґ]{5,}$")
    for p in prepared:
        df.update(set(w for w in p.words if cyr.match(w)))
        bigrams.update(set(f"{a} {b}" for a, b in zip(p.words, p.words[1:], strict=False)
                           if cyr.match(a) and cyr.match(b)))
    n = len(prepared)
    words = sorted(w for w, c in df.items() if n * 0.0005 <= c <= n * 0.01)
    phrases = sorted(b for b, c in bigrams.items() if 5 <= c <= 300)
    return words, phrases


def generate(count: int, words: list[str], phrases: list[str], sources: list[str],
             seed: int = 7) -> list[str]:
    rng = random.Random(seed)

    def kw() -> str:
        return rng.choice(words)

    def pre() -> str:  # a stem, as users write them: мобилизац*, северокорейск*
        w = rng.choice(words)
        return w[: max(5, len(w) - rng.randint(1, 3))] + "*"

    def ent() -> str:
        return "entity:" + rng.choice(ENTITY_IDS)

    templates: list[tuple[float, Callable[[], str]]] = [
        (5, lambda: ent()),
        (15, lambda: f"{ent()} AND {ent()}"),
        (15, lambda: f"{ent()} AND ({kw()} OR {pre()})"),
        (15, lambda: f"{pre()} AND {kw()}"),
        (10, lambda: f'"{rng.choice(phrases)}" OR {kw()}'),
        (10, lambda: f"{kw()} NEAR/5 {pre()}"),
        (8, lambda: f"({kw()} OR {kw()} OR {pre()}) AND NOT {kw()}"),
        (5, lambda: f"topic:conflict AND {ent()}"),
        (5, lambda: f"source:{rng.choice(sources)} AND {pre()}"),
        (5, lambda: f"{ent()} -{kw()}"),
        (4, lambda: f"lang:ru AND {kw()}"),
        (3, lambda: rng.choice(["쿠르스크 AND 북한군", "kursk AND (troops OR soldiers)",
                                "파병 NEAR/3 러시아", '"north korean" AND troop*'])),
    ]
    weights = [w for w, _ in templates]
    return [rng.choices(templates, weights)[0][1]() for _ in range(count)]


def make_doc(p: Prepared, topics: Topics) -> Doc:
    doc = Doc(p.words, entities=p.entities, source=p.source, lang="ru")
    found = topics.classify(doc)
    if found:
        doc.topics = frozenset(found)
    return doc


def best(run: Callable[[], object], repeat: int) -> float:
    """The fastest of `repeat` timed runs, in seconds: the machine may be shared."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def bench(prepared: list[Prepared], queries: list[Query], topics: Topics,
          naive_sample: int, repeat: int) -> dict[str, float]:
    started = time.perf_counter()
    matcher: Matcher[int] = Matcher()
    for i, q in enumerate(queries):
        matcher.add(i, q)
    matcher.match(Doc([]))  # builds the automaton
    build_ms = (time.perf_counter() - started) * 1000

    docs = [make_doc(p, topics) for p in prepared]  # topics are timed in pipeline_rate
    found = [d.topics for d in docs]
    matches = sum(len(matcher.match(d)) for d in docs)

    def indexed() -> None:
        for p, t in zip(prepared, found, strict=True):
            matcher.match(Doc(p.words, entities=p.entities, topics=t, source=p.source,
                              lang="ru"))

    elapsed = best(indexed, repeat)
    cands = sum(len(matcher.candidates(d)) for d in docs) / len(docs)
    sample = docs[:naive_sample]
    naive = best(lambda: [q.evaluate(d) for d in sample for q in queries], repeat)
    for d in sample:  # the index must agree with one-by-one evaluation
        assert matcher.match(d) == [i for i, q in enumerate(queries) if q.evaluate(d)]
    n = len(prepared)
    return {
        "build_ms": build_ms, "us_post": elapsed / n * 1e6, "posts_s": n / elapsed,
        "cands": cands, "matches": matches / n,
        "naive_us_post": naive / len(sample) * 1e6, "naive_posts_s": len(sample) / naive,
    }


def pipeline_rate(prepared: list[Prepared], tag: Callable[[Folded], frozenset[str]],
                  topics: Topics, matcher: Matcher[int], repeat: int) -> dict[str, float]:
    """The runner's path per post (fold once -> words, tag -> Doc, topics -> match), each
    stage timed over all posts in its own pass."""
    texts = [p.text for p in prepared]
    folded = [fold(t) for t in texts]
    words = [f.words() for f in folded]
    ents = [tag(f) for f in folded]

    def make_docs() -> list[Doc]:
        docs = []
        for w, e, p in zip(words, ents, prepared, strict=True):
            doc = Doc(w, entities=e, source=p.source, lang="ru")
            found = topics.classify(doc)
            if found:
                doc.topics = frozenset(found)
            docs.append(doc)
        return docs

    docs = make_docs()
    stages = {
        "fold": best(lambda: [fold(t) for t in texts], repeat),
        "words": best(lambda: [f.words() for f in folded], repeat),
        "tag": best(lambda: [tag(f) for f in folded], repeat),
        "Doc+topics": best(make_docs, repeat),
        "match": best(lambda: [matcher.match(d) for d in docs], repeat),
    }
    return {k: v / len(texts) * 1e6 for k, v in stages.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=None, help="use the first N posts")
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--naive-sample", type=int, default=300,
                        help="posts for the one-by-one comparison")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best counts")
    args = parser.parse_args(argv)

    posts = load_posts(args.posts)
    tagger_name, tag = make_tagger()
    prepared = prepare(posts, tag)
    topics = Topics.load(known_entities=None)
    words, phrases = vocabulary(prepared)
    sources = sorted({p.source for p in prepared})
    print(f"{len(prepared)} posts, mean {statistics.mean(len(p.text) for p in prepared):.0f} "
          f"chars, {statistics.mean(len(p.words) for p in prepared):.0f} words; entities from "
          f"{tagger_name}; vocabulary {len(words)} keywords, {len(phrases)} phrases; "
          f"best of {args.repeat} runs, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores\n")

    print("| subscriptions | parse ms | build ms | µs/post (Doc+match) | posts/s | "
          "candidates/post | matches/post | naive µs/post | naive posts/s | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    matcher_1k: Matcher[int] | None = None
    for size in (int(s) for s in args.sizes.split(",")):
        texts = generate(size, words, phrases, sources)
        started = time.perf_counter()
        queries = [parse(q, known_entities=ENTITY_IDS) for q in texts]
        parse_ms = (time.perf_counter() - started) * 1000
        r = bench(prepared, queries, topics, args.naive_sample, args.repeat)
        print(f"| {size:,} | {parse_ms:.0f} | {r['build_ms']:.0f} | {r['us_post']:.1f} | "
              f"{r['posts_s']:,.0f} | "
              f"{r['cands']:.1f} | {r['matches']:.2f} | {r['naive_us_post']:,.0f} | "
              f"{r['naive_posts_s']:,.0f} | {r['naive_us_post'] / r['us_post']:.0f}x |")
        if size == 1000 or matcher_1k is None:
            matcher_1k = Matcher()
            for i, q in enumerate(queries):
                matcher_1k.add(i, q)

    assert matcher_1k is not None
    stages = pipeline_rate(prepared, tag, topics, matcher_1k, args.repeat)
    total = sum(stages.values())
    print(f"\nFull path with {len(matcher_1k):,} subscriptions, µs/post: "
          + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
          + f"; total {total:.1f} = {1e6 / total:,.0f} posts/s on one core")
    fired = Counter(t for p in prepared for t in make_doc(p, topics).topics)
    print("Topics fired: " + ", ".join(f"{t} {fired[t]}" for t in topics.ids)
          + f" (of {len(prepared)} posts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
