"""This module contains topics: named queries every post is classified by.

Topics live in a YAML file (the bundled `config/topics.yaml` by default)::

    topics:
      - id: conflict
        description: The Russia-Ukraine war
        query: (entity:russia OR entity:ukraine) AND (войск* OR troop*)

They are evaluated in file order, so a topic may say `topic:<id>` of a topic above it; a
subscription then says `topic:conflict` instead of repeating the query.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import config
from bot.errors import BadQuery, ConfigError
from bot.files import read_text
from bot.pipeline.query import Check, Doc, Query, parse
from bot.yamlio import YamlDoc, load_yaml, problems_error

log = logging.getLogger(__name__)

_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_KEYS = frozenset({"id", "query", "description"})


def bundled_path() -> Path:
    return Path(config.__file__).resolve().parent / "topics.yaml"


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    query: Query
    description: str = ""


class Topics:
    """An ordered set of topics, ready to classify docs."""

    def __init__(self, topics: list[Topic]) -> None:
        self._topics = {t.id: t for t in topics}
        if len(self._topics) != len(topics):
            raise ConfigError("duplicate topic ids")
        # (id, check, whether the query reads doc.topics)
        self._plan: list[tuple[str, Check, bool]] = [
            (t.id, t.query.check, bool(t.query.topics())) for t in topics
        ]

    @classmethod
    def load(cls, path: str | Path | None = None,
             known_entities: Collection[str] | None = None) -> Topics:
        """Read a topics file (None: the bundled one); ConfigError names file, key path, line."""
        path = bundled_path() if path is None else Path(path)
        text = read_text(path, "topics")
        return cls.from_yaml(text, str(path), known_entities=known_entities)

    @classmethod
    def from_yaml(cls, text: str, source: str = "<topics>",
                  known_entities: Collection[str] | None = None) -> Topics:
        topics, problems = _read(text, source, known_entities)
        if problems:
            raise problems_error(problems)
        log.debug("loaded %d topics from %s", len(topics), source)
        return cls(topics)

    @property
    def ids(self) -> list[str]:
        return list(self._topics)

    def __getitem__(self, topic_id: str) -> Query:
        return self._topics[topic_id].query

    def __contains__(self, topic_id: object) -> bool:
        return topic_id in self._topics

    def __iter__(self) -> Iterator[str]:
        return iter(self._topics)

    def __len__(self) -> int:
        return len(self._topics)

    def description(self, topic_id: str) -> str:
        return self._topics[topic_id].description

    def classify(self, doc: Doc) -> tuple[str, ...]:
        """Ids of the topics whose query holds for `doc`, in file order.

        A topic's `topic:` atoms see the topics already in `doc.topics` plus those found above
        it; `doc.topics` itself is left as it was."""
        text = doc.joined()
        found: list[str] = []
        original = doc.topics
        seen = 0  # len(found) when doc.topics was last widened
        try:
            for topic_id, check, reads_topics in self._plan:
                if reads_topics and len(found) != seen:
                    doc.topics = original | frozenset(found)
                    seen = len(found)
                if check(doc, text):
                    found.append(topic_id)
        finally:
            doc.topics = original
        return tuple(found)


def _read(text: str, source: str,
          known_entities: Collection[str] | None) -> tuple[list[Topic], list[str]]:
    """The topics of a file, or every problem, each as `file: topics[i].key (line N): ...`."""
    try:
        doc = load_yaml(text, source)
    except ConfigError as exc:
        return [], list(exc.problems)
    items = _topic_items(doc)
    if isinstance(items, str):
        return [], [items]
    topics: list[Topic] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(items):
        at: tuple[Any, ...] = ("topics", index)
        if not isinstance(raw, dict):
            problems.append(doc.problem(at, "a topic must be a mapping with id and query"))
            continue
        topic_id = raw.get("id") if isinstance(raw.get("id"), str) else None
        name = f"topic {topic_id!r}" if topic_id else f"topics[{index}]"
        unknown = sorted(set(raw) - _KEYS, key=str)
        if unknown:
            problems.append(doc.problem((*at, unknown[0]), f"{name}: unknown key(s) "
                                        f"{', '.join(map(str, unknown))}; expected id, query, "
                                        "description"))
        if topic_id is None or not _ID_RE.match(topic_id):
            problems.append(doc.problem((*at, "id"), f"{name}: expected an id of lower-case "
                                        f"letters, digits and _, got {raw.get('id')!r}"))
            continue
        if topic_id in seen:
            first = seen[topic_id]
            problems.append(doc.problem((*at, "id"), f"{name}: duplicate topic id (also "
                                        f"topics[{first}], line {doc.line(('topics', first))})"))
            continue
        seen[topic_id] = index
        query_text = raw.get("query")
        if not isinstance(query_text, str) or not query_text.strip():
            got = "" if query_text is None else f", got {query_text!r} (quote it to make it text)"
            problems.append(doc.problem((*at, "query"), f"{name}: expected a query{got}"))
            continue
        try:
            query = parse(query_text, known_entities=known_entities)
        except BadQuery as exc:
            problems.append(doc.problem((*at, "query"), f"{name}: {exc}"))
            continue
        earlier = {t.id for t in topics}
        for ref in sorted(query.topics() - earlier):
            col = query_text.lower().find(f"topic:{ref}")
            problems.append(doc.problem((*at, "query"), f"{name}: topic:{ref} at column "
                                        f"{col + 1} is not defined above it (expected one of: "
                                        f"{', '.join(sorted(earlier)) or 'none yet'})"))
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            problems.append(doc.problem((*at, "description"), f"{name}: the description must "
                                        f"be text, got {description!r}"))
            description = None
        topics.append(Topic(topic_id, query, (description or "").strip()))
    return topics, problems


def _topic_items(doc: YamlDoc) -> list[Any] | str:
    """The list under `topics:`, or a problem description."""
    data = doc.data
    if data is None:
        return []
    if not isinstance(data, dict) or "topics" not in data:
        return f"{doc.source}: expected a top-level `topics:` list"
    unknown = sorted(set(data) - {"topics"}, key=str)
    if unknown:
        return doc.problem((unknown[0],), f"unknown top-level key {unknown[0]!r}; expected topics")
    items = data["topics"]
    if items is None:
        return []
    if not isinstance(items, list):
        return doc.problem(("topics",), "expected a list of topics under topics:")
    return items
