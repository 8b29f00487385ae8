"""This module contains the relevance benchmark: entity tagging and the `conflict` topic on the
evaluation set of issue 13 (tests/data/relevance/, labeling conventions in its README.md).

Run: ``.venv/bin/python benchmarks/relevance.py [--errors tune|report|all] [--json OUT]``

For each part (real posts, written posts), each half (`tune`, `report`: the fixed split rule of
the README) and each language it prints post-level entity precision and recall (one pair per
post and entity id, real mentions only: implied ids are not counted) and the accuracy of topic
`conflict`, with its false positives and false negatives. Tune on the `tune` half; report the
`report` half. With --errors it lists every wrong item of that half.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import random
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.model import Post  # noqa: E402
from bot.pipeline.entities import Tagger, Watchlist  # noqa: E402
from bot.pipeline.language import LanguageDetector  # noqa: E402
from bot.pipeline.runner import Analyzer  # noqa: E402
from bot.pipeline.topics import Topics  # noqa: E402

DATA = ROOT / "tests" / "data" / "relevance"
POSTS = Path("/work/shared/data/telegram-ru-2024/posts.jsonl.gz")
HANDCHECK = DATA / "handcheck.tsv"
PARTS = ("real", "written")
LANGS = ("en", "ru", "uk", "ko", "de", "fr", "pl")


def load(part: str) -> list[dict]:
    return yaml.safe_load((DATA / f"{part}.yaml").read_text(encoding="utf-8"))["items"]


def run(analyzer: Analyzer, items: list[dict]) -> list[dict]:
    """One result per item: found entity ids, whether `conflict` fired."""
    results = []
    for item in items:
        post = Post("eval", "replay", "eval", item["id"], item["text"])
        doc, mentions, _lang, topics = analyzer.doc(post)
        results.append({"found": {m.entity_id for m in mentions}, "conflict": "conflict" in topics})
    return results


def score(items: list[dict], results: list[dict]) -> dict:
    """Per (half, lang): tp, fp, fn of entity pairs; right/total and fp/fn of conflict."""
    table: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for item, res in zip(items, results, strict=True):
        expected = set(item.get("entities") or {})
        found = res["found"]
        for key in ((item["split"], item["lang"]), (item["split"], "all")):
            c = table[key]
            c["posts"] += 1
            c["tp"] += len(found & expected)
            c["fp"] += len(found - expected)
            c["fn"] += len(expected - found)
            want, got = bool(item["conflict"]), res["conflict"]
            c["right"] += want == got
            c["c_fp"] += got and not want
            c["c_fn"] += want and not got
    return table


def figures(c: collections.Counter) -> tuple[float, float, float]:
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    return precision, recall, c["right"] / c["posts"] if c["posts"] else 1.0


def report(part: str, table: dict) -> dict:
    print(f"\n{part} posts ({DATA.relative_to(ROOT)}/{part}.yaml)")
    print(f"  {'half':6s} {'lang':4s} {'posts':>5s} {'pairs':>5s} {'ent P':>6s} {'ent R':>6s} "
          f"{'conflict acc':>12s} {'FP':>3s} {'FN':>3s}")
    out = {}
    for half in ("tune", "report"):
        for lang in (*LANGS, "all"):
            c = table.get((half, lang))
            if not c:
                continue
            p, r, acc = figures(c)
            out[f"{half}/{lang}"] = {"posts": c["posts"], "precision": round(p, 4),
                                     "recall": round(r, 4), "conflict_accuracy": round(acc, 4)}
            print(f"  {half:6s} {lang:4s} {c['posts']:5d} {c['tp'] + c['fn']:5d} {p:6.3f} {r:6.3f} "
                  f"{acc:12.3f} {c['c_fp']:3d} {c['c_fn']:3d}")
    return out


def errors(items: list[dict], results: list[dict], half: str) -> None:
    for item, res in zip(items, results, strict=True):
        if half != "all" and item["split"] != half:
            continue
        expected = set(item.get("entities") or {})
        missed, extra = sorted(expected - res["found"]), sorted(res["found"] - expected)
        wrong_topic = bool(item["conflict"]) != res["conflict"]
        if not (missed or extra or wrong_topic):
            continue
        what = []
        if missed:
            what.append(f"missed {missed}")
        if extra:
            what.append(f"false {extra}")
        if wrong_topic:
            what.append("conflict FN" if item["conflict"] else "conflict FP")
        text = " ".join(item["text"].split())
        print(f"  {item['id']} ({item['split']}): {'; '.join(what)}: {text[:150]}")


def handcheck(analyzer: Analyzer, n: int, seed: int) -> None:
    """The false-alert and miss rates of issue 13, item 3, on real posts outside the set.

    All posts are shuffled once with `seed`; the first n the topic tags `conflict` and the first
    n it leaves untagged are the sample (so a small change of the topic changes the sample only
    a little). Hand labels live in tests/data/relevance/handcheck.tsv (source, 1/0, note);
    sampled posts without a label are printed to be read."""
    in_set = {item["source"] for item in load("real")}
    labels = {}
    if HANDCHECK.exists():
        for line in HANDCHECK.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                source, label, *_ = line.split("\t")
                labels[source] = label == "1"
    with gzip.open(POSTS, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    picked: dict[bool, list[tuple[str, dict]]] = {True: [], False: []}
    counts = collections.Counter()
    for i in order:
        row = rows[i]
        source = f"{row['channel_id']}/{row['message_id']}"
        if source in in_set or not row["text"].strip():
            continue
        post = Post("eval", "replay", str(row["channel_id"]), str(row["message_id"]), row["text"])
        tagged = "conflict" in analyzer.doc(post)[3]
        counts[tagged] += 1
        if len(picked[tagged]) < n:
            picked[tagged].append((source, row))
    print(f"\nHand-check: {counts[True]} real posts outside the set tagged conflict, "
          f"{counts[False]} not; samples of {n} each (seed {seed}), labels {HANDCHECK.name}")
    todo = []
    for tagged, name in ((True, "tagged"), (False, "not tagged")):
        known = [labels[s] for s, _ in picked[tagged] if s in labels]
        wrong = sum(1 for label in known if label != tagged)
        print(f"  {name:10s}: {len(known)} labeled, {wrong} wrong "
              f"({wrong / len(known):.0%} error rate)" if known else f"  {name}: none labeled")
        todo += [(tagged, s, r) for s, r in picked[tagged] if s not in labels]
    for tagged, source, row in todo:
        text = " ".join(row["text"].split())
        print(f"  to label ({'tagged' if tagged else 'quiet'}) {source} [{row['channel'][:20]}] "
              f"{text[:400]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", choices=("tune", "report", "all"), default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--topics", type=Path, default=None, help="a topics file to try")
    parser.add_argument("--entities", type=Path, default=None, help="a watchlist to try")
    parser.add_argument("--handcheck", type=int, default=0, metavar="N",
                        help="also print N real posts tagged conflict and N not, to read")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    watchlist = Watchlist.load(args.entities)
    tagger = Tagger(watchlist)
    topics = Topics.load(args.topics, known_entities=set(watchlist.ids))
    analyzer = Analyzer(tagger, topics, LanguageDetector())
    summary = {}
    for part in PARTS:
        items = load(part)
        results = run(analyzer, items)
        summary[part] = report(part, score(items, results))
        if args.errors:
            print(f"\n  wrong items, {part}, half {args.errors}:")
            errors(items, results, args.errors)
    if args.handcheck:
        handcheck(analyzer, args.handcheck, args.seed)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
