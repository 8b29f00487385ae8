"""This module contains the subscription index: which of many queries hold for a post.

Each query is indexed on a set of atoms at least one of which every matching post contains:
a word (as a substring of `Doc.joined()`: " word " for an exact word, " stem" for a prefix or
an inflected word), an entity, a topic, a source or a language. For AND the cheapest child's
set is enough, for OR the union of its children's sets is needed, and NOT gives nothing, so a
query whose every branch hides behind NOT goes in an always-check list. For a post, one
Aho-Corasick pass over the joined words finds the word atoms, dictionary look-ups find the
others, and only the queries behind those atoms (the candidates) are evaluated. The cost of
`match` follows the number of candidates, not of subscriptions.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterator
from typing import Generic, TypeAlias, TypeVar

import ahocorasick

from bot.pipeline.query import (
    INFLECT,
    And,
    Check,
    Doc,
    Field,
    Near,
    Node,
    Not,
    Or,
    Query,
    Words,
    piece_cost,
)

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
Atom: TypeAlias = tuple[str, str]  # (kind, value); kind: text | entity | topic | source | lang

# Rough chance that a post carries an atom; AND indexes on its cheapest child. Watched
# entities are what the followed channels talk about, so they are common there (russia, kursk
# in a third of posts): a word of four letters or more is usually the rarer half of an AND.
# Language is priced high because looking it up means running detection on every post.
_FIELD_COST = {"entity": 0.15, "topic": 0.2, "source": 0.3, "lang": 50.0}


def _words_atoms(node: Words) -> tuple[float, frozenset[Atom]]:
    best = min(node.pieces, key=piece_cost)
    return piece_cost(best), frozenset({("text", best.needle)})


def _union(parts: list[tuple[float, frozenset[Atom]]]) -> tuple[float, frozenset[Atom]]:
    return sum(p[0] for p in parts), frozenset().union(*(p[1] for p in parts))


def index_atoms(node: Node) -> tuple[float, frozenset[Atom]] | None:
    """(estimated cost, atoms) such that every doc the tree holds for has one of the atoms;
    None when no such set exists (the tree can hold for a doc with no particular atom)."""
    if isinstance(node, Words):
        return _words_atoms(node)
    if isinstance(node, Field):
        return _FIELD_COST[node.name], frozenset({(node.name, node.value)})
    if isinstance(node, Not):
        return None
    if isinstance(node, Near):
        return min(_union([_words_atoms(w) for w in node.left]),
                   _union([_words_atoms(w) for w in node.right]), key=lambda p: p[0])
    parts = [index_atoms(child) for child in node.children]
    if isinstance(node, And):
        usable = [p for p in parts if p is not None]
        return min(usable, key=lambda p: (p[0], len(p[1]))) if usable else None
    assert isinstance(node, Or)
    if any(p is None for p in parts):
        return None
    return _union(parts)  # type: ignore[arg-type]


def decided_by_atoms(node: Node) -> bool:
    """True when having one of the index atoms is the same as the query holding, so a
    candidate needs no evaluation (`entity:kursk`, `kursk OR курск*`)."""
    if isinstance(node, Field):
        return True
    if isinstance(node, Words):
        return len(node.pieces) == 1 and node.pieces[0].mode != INFLECT
    return isinstance(node, Or) and all(decided_by_atoms(c) for c in node.children)


class Matcher(Generic[K]):
    """An index of many queries under caller-chosen keys (e.g. (room id, subscription id))."""

    def __init__(self) -> None:
        # slot -> (key, query, check or None when the atoms decide, atoms)
        self._entries: dict[int, tuple[K, Query, Check | None, tuple[Atom, ...]]] = {}
        self._slot_of: dict[K, int] = {}
        self._next = 0
        self._text: dict[str, set[int]] = {}
        self._entity: dict[str, set[int]] = {}
        self._topic: dict[str, set[int]] = {}
        self._source: dict[str, set[int]] = {}
        self._lang: dict[str, set[int]] = {}
        self._always: set[int] = set()
        self._automaton: ahocorasick.Automaton | None = None
        self._stale = False

    def _table(self, kind: str) -> dict[str, set[int]]:
        return {"text": self._text, "entity": self._entity, "topic": self._topic,
                "source": self._source, "lang": self._lang}[kind]

    def add(self, key: K, query: Query) -> None:
        """Index `query` under `key`, replacing what `key` had."""
        self.remove(key)
        slot = self._next
        self._next += 1
        found = index_atoms(query.root)
        atoms: tuple[Atom, ...] = tuple(sorted(found[1])) if found is not None else ()
        check = None if found is not None and decided_by_atoms(query.root) else query.check
        self._entries[slot] = (key, query, check, atoms)
        self._slot_of[key] = slot
        if found is None:
            self._always.add(slot)
            log.debug("query %s cannot be indexed; it is checked on every post", query)
        for kind, value in atoms:
            bucket = self._table(kind).setdefault(value, set())
            if not bucket and kind == "text":
                self._stale = True  # a new needle: the automaton must learn it
            bucket.add(slot)

    def remove(self, key: K) -> None:
        """Forget `key`; unknown keys are ignored."""
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return
        _, _, _, atoms = self._entries.pop(slot)
        self._always.discard(slot)
        for kind, value in atoms:
            table = self._table(kind)
            bucket = table[value]
            bucket.discard(slot)
            if not bucket:
                del table[value]
                if kind == "text":
                    self._stale = True

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of

    def __iter__(self) -> Iterator[K]:
        return iter(self._slot_of)

    def get(self, key: K) -> Query | None:
        slot = self._slot_of.get(key)
        return None if slot is None else self._entries[slot][1]

    def _rebuild(self) -> None:
        self._stale = False
        if not self._text:
            self._automaton = None
            return
        automaton = ahocorasick.Automaton()
        for needle, bucket in self._text.items():
            automaton.add_word(needle, bucket)  # the live set: later adds need no rebuild
        automaton.make_automaton()
        self._automaton = automaton

    def candidates(self, doc: Doc) -> set[int]:
        """Slots of the queries worth evaluating for `doc` (a superset of the matches)."""
        cands = set(self._always)
        if self._stale:
            self._rebuild()
        if self._automaton is not None:
            for _, bucket in self._automaton.iter(doc.joined()):
                cands.update(bucket)
        if self._entity:
            for entity in doc.entities:
                bucket = self._entity.get(entity)
                if bucket:
                    cands.update(bucket)
        if self._topic:
            for topic in doc.topics:
                bucket = self._topic.get(topic)
                if bucket:
                    cands.update(bucket)
        if self._source and doc.source:
            bucket = self._source.get(doc.source.lower())
            if bucket:
                cands.update(bucket)
        if self._lang:
            lang = doc.language()
            bucket = self._lang.get(lang) if lang else None
            if bucket:
                cands.update(bucket)
        return cands

    def match(self, doc: Doc) -> list[K]:
        """Keys whose query holds for `doc`, in the order they were added."""
        cands = self.candidates(doc)
        if not cands:
            return []
        text = doc.joined()
        entries = self._entries
        out = []
        for slot in sorted(cands):
            key, _, check, _ = entries[slot]
            if check is None or check(doc, text):
                out.append(key)
        return out
