"""This module contains `wirewatch analyze`: JSON lines in, one analysis per line out.

Input is read as bytes and each line decoded and parsed alone: a line that is not UTF-8,
not JSON or nested too deeply gets an `error` object and the stream goes on.

The input is one time-ordered stream: each line may carry `date` (ISO 8601; a line without one
is taken at the previous line's time) and `source`, and every output line gets `"story"`: the
`id` of the first post of the story it joined (its own when it starts one; the line number
for a line without `id`), grouped as the pipeline groups (`stories` settings; null with
`stories.enabled: false`). Unlike the pipeline, every line is grouped, matched or not: this
is the evaluation interface.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from bot.bootstrap import Engine, build_engine, build_grouper
from bot.codec import parse_date
from bot.errors import BadQuery
from bot.model import Post
from bot.pipeline.query import parse
from bot.postfile import json_reason
from bot.settings import Settings
from bot.stories import StoryGrouper, StoryPost
from bot.terminal import json_line, safe
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
                print(safe(f"warning: {room.id}/{sub.id} skipped: {exc}"), file=stderr)
    stream = _Stream(build_grouper(settings))
    bad = 0
    for lineno, raw in enumerate(_byte_lines(stdin), 1):
        try:
            item = _parse(raw)
            if item is None:
                continue
            line = json_line(_analysis(engine, item, lineno, stream))
        except (ValueError, RecursionError) as exc:
            # RecursionError: an "id" nested nearly as deep as the parser allows cannot be
            # written back out.
            reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
            bad += 1
            print(safe(f"line {lineno}: {reason}"), file=stderr)
            stdout.write(json_line({"line": lineno, "error": reason}) + "\n")
            continue
        stdout.write(line + "\n")
        stdout.flush()
    return 1 if bad else 0


class _Stream:
    """The stream's clock and stories: input ids by grouping key."""

    def __init__(self, grouper: StoryGrouper | None) -> None:
        self.grouper = grouper
        self.last: datetime | None = None
        self.ids: dict[str, Any] = {}

    def date(self, item: dict[str, Any]) -> datetime:
        raw = item.get("date")
        if raw is None:
            if self.last is None:
                self.last = datetime.now().astimezone()
            return self.last
        if not isinstance(raw, str):
            raise ValueError('"date" must be ISO 8601 text, e.g. "2024-11-05T07:00:00Z"')
        try:
            self.last = parse_date(raw)
        except ValueError:
            raise ValueError(f'"date" is not ISO 8601: {safe(raw[:60])!r}') from None
        return self.last


def _analysis(engine: Engine, item: dict[str, Any], lineno: int, stream: _Stream) -> dict[str, Any]:
    text = sanitize(item["text"][:MAX_TEXT])  # as the pipeline would see it
    date = stream.date(item)  # first: a bad date is this line's error, nothing else changes
    source = item.get("source", "stdin")
    post = Post(source_id=str(source), platform="stdin", chat="stdin",
                message_id=str(item.get("id", lineno)), text=text, date=date)
    analysis, matches = engine.analyzer.analyze(post, detect=True)
    story = None
    if stream.grouper is not None:
        key = json.dumps(item["id"]) if "id" in item else f"line {lineno}"
        stream.ids.setdefault(key, item.get("id", lineno))
        placed = stream.grouper.add(StoryPost(key, date, str(source), text, analysis.lang,
                                              frozenset(analysis.entity_ids)))
        story = stream.ids.get(placed.story)
    return {
        "id": item.get("id"),
        "lang": analysis.lang,
        "lang_confidence": round(analysis.lang_confidence, 3),
        "entities": [{"id": m.entity_id, "surface": m.surface, "start": m.start, "end": m.end}
                     for m in analysis.mentions],
        "implied": list(analysis.implied),
        "topics": list(analysis.topics),
        "matches": list(matches),
        "story": story,
    }


def _byte_lines(stdin: IO[str]) -> Iterator[bytes]:
    """The raw lines of stdin: decoding them one by one keeps one bad byte to its line."""
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        yield from buffer
    else:  # a text stream without bytes beneath (tests, embedding)
        for line in stdin:
            yield line.encode("utf-8", "surrogatepass")


def _parse(raw: bytes) -> dict[str, Any] | None:
    """The object on one line (None for a blank line); ValueError says plainly why not."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                         f"{exc.start + 1})") from None
    if not line.strip():
        return None
    line = line.rstrip()
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(json_reason(exc, line)) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        raise ValueError('expected an object with a string "text"')
    return item
