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

import yaml

import config
from bot.errors import BadQuery, ConfigError
from bot.files import read_text
from bot.pipeline.query import Check, Doc, Query, parse

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
        """Read a topics file (None: the bundled one); ConfigError names topic and position."""
        path = bundled_path() if path is None else Path(path)
        text = read_text(path, "topics")
        return cls.from_yaml(text, str(path), known_entities=known_entities)

    @classmethod
    def from_yaml(cls, text: str, source: str = "<topics>",
                  known_entities: Collection[str] | None = None) -> Topics:
        topics, problems = _read(text, source, known_entities)
        if problems:
            raise ConfigError(f"{source}: {problems[0]}" if len(problems) == 1
                              else f"{source}: {len(problems)} problems: " + "; ".join(problems),
                              [f"{source}: {p}" for p in problems])
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
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return [], [f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"]
    items = _topic_nodes(root)
    if isinstance(items, str):
        return [], [items]
    topics: list[Topic] = []
    problems: list[str] = []
    seen: set[str] = set()
    for node in items:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            problems.append(f"line {line}: a topic must be a mapping with id and query")
            continue
        fields = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        topic_id = fields["id"].value if isinstance(fields.get("id"), yaml.ScalarNode) else None
        name = f"topic {topic_id!r} (line {line})" if topic_id else f"topic at line {line}"
        unknown = sorted(set(fields) - _KEYS)
        if unknown:
            problems.append(f"{name}: unknown key(s) {', '.join(unknown)}; expected "
                            "id, query, description")
        if topic_id is None or not _ID_RE.match(topic_id):
            problems.append(f"{name}: expected an id of lower-case letters, digits and _")
            continue
        if topic_id in seen:
            problems.append(f"{name}: duplicate topic id")
            continue
        seen.add(topic_id)
        query_node = fields.get("query")
        if not isinstance(query_node, yaml.ScalarNode) or not query_node.value.strip():
            problems.append(f"{name}: expected a query")
            continue
        qline = query_node.start_mark.line + 1
        try:
            query = parse(query_node.value, known_entities=known_entities)
        except BadQuery as exc:
            problems.append(f"topic {topic_id!r}, query at line {qline}: {exc}")
            continue
        earlier = {t.id for t in topics}
        for ref in sorted(query.topics() - earlier):
            at = query_node.value.lower().find(f"topic:{ref}")
            problems.append(f"topic {topic_id!r}, query at line {qline}: topic:{ref} at column "
                            f"{at + 1} is not defined above it (expected one of: "
                            f"{', '.join(sorted(earlier)) or 'none yet'})")
        desc_node = fields.get("description")
        description = desc_node.value.strip() if isinstance(desc_node, yaml.ScalarNode) else ""
        topics.append(Topic(topic_id, query, description))
    return topics, problems


def _topic_nodes(root: yaml.Node | None) -> list[yaml.Node] | str:
    """The sequence under `topics:`, or a problem description."""
    if root is None:
        return []
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "topics":
                if isinstance(value, yaml.SequenceNode):
                    return list(value.value)
                if isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null"):
                    return []
                return f"line {value.start_mark.line + 1}: expected a list of topics under topics:"
    return "expected a top-level `topics:` list"
