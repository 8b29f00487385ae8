"""This module contains the sampler that drew the real posts of the relevance evaluation set.

Run: ``.venv/bin/python benchmarks/relevance_sample.py OUT.jsonl``

It draws, with a fixed seed, from /work/shared/data/telegram-ru-2024/posts.jsonl.gz (CC BY 4.0,
NKTKLN/telegram-news-classifier): posts naming «КНДР», posts with «Курск»/«курск-», posts with the
false friend «курс» (currency rate, course) but not «Курск», posts with war words, and a uniform
random sample. A post is drawn once, in the first stratum that picks it. Texts longer than
`MAX_CHARS` are cut at the last space before it (labels describe the cut text). The draft it
writes was then read and labeled by hand into tests/data/relevance/real.yaml.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import sys
from pathlib import Path

POSTS = Path("/work/shared/data/telegram-ru-2024/posts.jsonl.gz")
SEED = 13
MAX_CHARS = 800
STRATA: list[tuple[str, int, re.Pattern[str] | None]] = [
    ("kndr", 40, re.compile(r"кндр", re.I)),
    ("kursk", 60, re.compile(r"курск|курщин", re.I)),
    ("kurs", 50, re.compile(r"(?<![а-яё])курс(?!к)[а-яё]*", re.I)),
    ("war", 100, re.compile(
        r"войн|военн|войск|фронт|обстрел|(?<![а-я])(всу|сво|бпла)(?![а-я])|беспилотник|"
        r"(?<![а-я])атак|(?<![а-я])удар|арми[яиюей]|мобилиз|пленн|боев|(?<![а-я])бо[ия](?![а-я])",
        re.I)),
    ("random", 160, None),
]


def cut(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    head = text[:MAX_CHARS]
    return head[: head.rfind(" ")] if " " in head else head


def main(out: str) -> None:
    with gzip.open(POSTS, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    rng = random.Random(SEED)
    taken: set[int] = set()
    with open(out, "w", encoding="utf-8") as fh:
        for name, count, pattern in STRATA:
            pool = [i for i, r in enumerate(rows)
                    if i not in taken and r["text"].strip()
                    and (pattern is None or pattern.search(r["text"]))]
            for n, i in enumerate(rng.sample(pool, count), 1):
                taken.add(i)
                r = rows[i]
                fh.write(json.dumps({
                    "id": f"real-{name}-{n:03d}", "stratum": name, "lang": "ru",
                    "source": f"{r['channel_id']}/{r['message_id']}", "channel": r["channel"],
                    "text": cut(r["text"])}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
