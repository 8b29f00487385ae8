"""This module contains `wirewatch analyze`: JSON lines in, one analysis per line out."""

from __future__ import annotations

import json
from typing import IO

from bot.bootstrap import build_engine
from bot.errors import BadQuery
from bot.model import Post
from bot.pipeline.query import parse
from bot.settings import Settings
from bot.text import sanitize

MAX_TEXT = 100_000


def analyze_lines(settings: Settings, stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> int:
    """Returns 0, or 1 if any line was bad (bad lines get an `error` object, others go on)."""
    engine = build_engine(settings)
    known = set(engine.watchlist.ids)
    for room in settings.rooms:
        for sub in room.subscriptions:
            try:
                engine.analyzer.subscriptions.add(f"{room.id}/{sub.id}", parse(sub.query, known_entities=known))
            except BadQuery as exc:
                print(f"warning: {room.id}/{sub.id} skipped: {exc}", file=stderr)
    bad = 0
    for lineno, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ValueError('expected an object with a string "text"')
        except ValueError as exc:
            bad += 1
            print(f"line {lineno}: {exc}", file=stderr)
            stdout.write(json.dumps({"line": lineno, "error": str(exc)}) + "\n")
            continue
        text = sanitize(item["text"][:MAX_TEXT])  # as the pipeline would see it
        post = Post(source_id=str(item.get("source", "stdin")), platform="stdin", chat="stdin",
                    message_id=str(item.get("id", lineno)), text=text)
        analysis, matches = engine.analyzer.analyze(post, detect=True)
        out = {
            "id": item.get("id"),
            "lang": analysis.lang,
            "lang_confidence": round(analysis.lang_confidence, 3),
            "entities": [{"id": m.entity_id, "surface": m.surface, "start": m.start, "end": m.end}
                         for m in analysis.mentions],
            "topics": list(analysis.topics),
            "matches": list(matches),
        }
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 1 if bad else 0
