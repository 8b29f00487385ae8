"""This module contains the query language of subscriptions, topics and /search.

Syntax, loosest binding first::

    a OR b            either
    a AND b, a b      both (juxtaposition is an implicit AND)
    NOT a, -a         not
    a NEAR/n b        both, with at most n words between them, in either order
    ( ... )           grouping
    word  word*  "exact phrase"  "курск* област*"  «фраза»
    entity:<id>  topic:<id>  lang:<code>  source:<id>

Only upper-case AND, OR, NOT and NEAR/n are operators: `us and them` is three words. The
operands of NEAR are words or phrases, or a parenthesised OR of them:
`(troops OR войск*) NEAR/5 kursk`; the two must not overlap, so `kursk NEAR/3 kursk` needs two
occurrences. A term with inner punctuation is a phrase of its words (`north-korea`, `су-34`),
as the post text is split the same way. Field ids are compared in lower case.

Words are matched against the folded words of a post (`bot.text.fold`, applied to the query
word too), so case and Latin diacritics never matter. How one query word matches a post word:

- `word*` matches any post word starting with `word`.
- A word ending in Hangul also matches post words that start with it: Korean glues particles
  to the noun, so `쿠르스크` finds `쿠르스크에서`.
- A plain Cyrillic word of four or more letters is matched with a light Russian/Ukrainian
  inflection rule: its longest case ending (from a closed list, keeping a stem of at least
  three letters) is cut off, and a post word matches when it is that stem plus one of the
  listed endings (or nothing). So `курская` finds курской, курскую, курский, and `война`
  finds войны, войне, войной, but neither finds a word with another suffix (курсант,
  военный). The rule is deliberately small: `word*` stays the tool for anything broader. It
  can still reach an unrelated word that happens to be stem plus ending (`посла` finds
  `после`); quoting the word turns it off.
- A plain word standing alone (not inside a phrase) of four or more letters also matches
  its Snowball forms (`bot.pipeline.wordforms`): Russian for Cyrillic words, on top of the
  rule above; English, German, French and Polish for Latin words, in the languages the word
  is common in (wordfreq). So `soldier` finds soldiers, `krieg` finds Krieges, `wojna` finds
  wojny and `освободить` finds освободили.
- Everything else, every word inside "quotes", and a word typed in capitals (an acronym:
  НАТО, ВСУ, NATO) matches exactly. Quotes are the way to ask for one exact form.

The language lives in three modules, re-exported here: `bot.pipeline.query_tree` (the
syntax tree and its canonical printing: `str(query)` parses back to an equal query),
`bot.pipeline.query_parser` (lexer and parser) and `bot.pipeline.query_compiler` (the one
back end: a tree becomes one function over a `Doc`, used by subscriptions, topics and
/search alike). This module holds the public face, `parse` and `Query`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache

from bot.errors import BadQuery
from bot.pipeline.query_compiler import OR_AUTOMATON_MIN, Check, Doc, compile_node
from bot.pipeline.query_parser import MAX_DEPTH, MAX_LENGTH, parse_tree
from bot.pipeline.query_tree import (
    ENDINGS,
    EXACT,
    FIELDS,
    INFLECT,
    PREFIX,
    And,
    Field,
    Mode,
    Near,
    Node,
    Not,
    Or,
    Piece,
    Words,
    piece_cost,
    to_str,
    walk,
)

__all__ = [
    "ENDINGS", "EXACT", "FIELDS", "INFLECT", "MAX_DEPTH", "MAX_LENGTH", "OR_AUTOMATON_MIN",
    "PREFIX", "And", "BadQuery", "Check", "Doc", "Field", "Mode", "Near", "Node", "Not", "Or",
    "Piece", "Query", "Words", "compile_node", "from_node", "parse", "piece_cost", "to_str",
]


@dataclass(frozen=True, slots=True, eq=False)
class Query:
    """A parsed, compiled query. Equal queries have equal canonical trees (`str`).

    `check(doc, doc.joined())` is `evaluate` for callers that already hold the joined text.
    """

    source: str
    root: Node
    check: Check = field(repr=False)

    def evaluate(self, doc: Doc) -> bool:
        return self.check(doc, doc.joined())

    def needs_lang(self) -> bool:
        return any(isinstance(n, Field) and n.name == "lang" for n in walk(self.root))

    def entities(self) -> frozenset[str]:
        return self._values("entity")

    def topics(self) -> frozenset[str]:
        return self._values("topic")

    def _values(self, name: str) -> frozenset[str]:
        return frozenset(n.value for n in walk(self.root) if isinstance(n, Field) and n.name == name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __str__(self) -> str:
        return to_str(self.root)


def from_node(node: Node, source: str | None = None) -> Query:
    """A compiled query for a tree built in code (e.g. by a rewriting step)."""
    return Query(to_str(node) if source is None else source, node, compile_node(node))


def parse(text: str, *, known_entities: Collection[str] | None = None) -> Query:
    """Parse and compile a query; raise BadQuery naming the position and what was expected.

    With `known_entities`, `entity:` ids outside the set are an error too. Compiled queries
    are immutable and cached by text, so rebuilding an index of thousands of subscriptions
    after one change costs little.
    """
    if len(text) > MAX_LENGTH:
        parse_tree(text)  # raises the error, without hashing the text into the cache
    query = _parse_cached(text)
    if known_entities is not None and any(e not in known_entities for e in query.entities()):
        parse_tree(text, known_entities)  # raises the error with its position
    return query


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Query:
    root = parse_tree(text)
    return Query(text, root, compile_node(root))
