"""This module contains the query compiler: a syntax tree becomes one function over a post.

A post is seen as a `Doc`: its folded words joined by single spaces, with a space on each
side (`Doc.joined`), so most checks are one substring search in C. A tree compiles into a
single Python expression over the doc and its joined text (`compile_node`); an OR of many
words becomes one Aho-Corasick automaton, and NEAR finds the word spans of both sides and
compares them in sorted order, linear in their number. This is the only evaluation path:
subscriptions (`bot.pipeline.matcher`), topics and /search all call the compiled function.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import ahocorasick

from bot.pipeline.query_tree import (
    ENDINGS,
    EXACT,
    INFLECT,
    And,
    Field,
    Near,
    Node,
    Not,
    Or,
    Piece,
    Words,
    piece_cost,
)

log = logging.getLogger(__name__)

OR_AUTOMATON_MIN = 6  # an OR of this many words is checked with one automaton pass


@dataclass(eq=False, slots=True)
class Doc:
    """What a query sees of one post. `words` must be folded `WORD_RE` words, in order.

    `lang` may be a callable: it is called at most once, and only when a `lang:` atom is
    evaluated, so posts nobody filters by language skip detection. Entity, topic and language
    ids are lower case; `source` is compared case-insensitively. A Doc caches derived views,
    so change `words` only by making a new one; setting `topics` after classification is
    fine (or use `dataclasses.replace`).
    """

    words: Sequence[str]
    entities: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    source: str = ""
    lang: Callable[[], str | None] | str | None = None
    _joined: str | None = field(default=None, init=False, repr=False)
    _lang: str | None = field(default=None, init=False, repr=False)
    _lang_done: bool = field(default=False, init=False, repr=False)

    def joined(self) -> str:
        """The words joined by single spaces, with a space at each end (built once)."""
        text = self._joined
        if text is None:
            text = self._joined = " " + " ".join(self.words) + " "
        return text

    def language(self) -> str | None:
        """The post's language code in lower case, resolving a lazy `lang` once."""
        if not self._lang_done:
            value = self.lang
            if callable(value):
                try:
                    value = value()
                except Exception:  # a detector failing must not stop matching
                    log.warning("language detection failed; treating the language as unknown",
                                exc_info=True)
                    value = None
            self._lang = value.lower() if isinstance(value, str) and value else None
            self._lang_done = True
        return self._lang


Check: TypeAlias = Callable[[Doc, str], bool]  # (doc, doc.joined()) -> holds


def _cost(node: Node) -> float:
    """Rough evaluation cost, to test cheap conditions first (and lang: last)."""
    if isinstance(node, Field):
        return 100.0 if node.name == "lang" else 1.0
    if isinstance(node, Words):
        if len(node.pieces) == 1:
            return 2.0 if node.pieces[0].mode != INFLECT else 3.0
        return 4.0
    if isinstance(node, Near):
        return 10.0
    if isinstance(node, Not):
        # A NOT of something rare is almost always true: it decides little, so test it last.
        return _cost(node.child) + 1000.0
    if isinstance(node, Or):
        words = [c for c in node.children if isinstance(c, Words)]
        if len(words) >= OR_AUTOMATON_MIN:  # one automaton pass, however many words
            return 5.0 + sum(_cost(c) for c in node.children if not isinstance(c, Words))
    return sum(_cost(c) for c in node.children)


def _piece_in(piece: Piece, text: str) -> bool:
    """Some word of a joined text is a form of a single-word piece with `forms`."""
    needle = " " + piece.stem
    i = text.find(needle)
    while i >= 0:
        end = text.find(" ", i + 1)
        if piece.matches(text[i + 1:end]):
            return True
        i = text.find(needle, end)
    return False


def _inflected_in(needle: str, text: str) -> bool:
    """Some word of `text` is needle's stem plus a case ending."""
    start = len(needle)
    i = text.find(needle)
    while i >= 0:
        end = text.find(" ", i + start)
        if text[i + start:end] in ENDINGS:
            return True
        i = text.find(needle, i + 1)
    return False


class _LazyRegex:
    """A phrase regex compiled on first use: thousands of subscriptions parse fast."""

    __slots__ = ("source", "_compiled")

    def __init__(self, source: str) -> None:
        self.source = source
        self._compiled: re.Pattern[str] | None = None

    def get(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.source)
        return self._compiled


def _spans_finder(node: Words) -> Callable[[str], list[tuple[int, int]]]:
    """Word spans [start, end) of every occurrence of `node` in a joined text, overlaps
    included, in order. A word's index is the number of spaces before it, less one: counted
    on from the previous occurrence, so the cost is one pass over the text."""
    size = len(node.pieces)
    regex = _LazyRegex(" (?=(" + " ".join(p.pattern() for p in node.pieces) + ") )")
    single = node.pieces[0] if size == 1 and node.pieces[0].forms is not None else None

    def spans(t: str) -> list[tuple[int, int]]:
        out = []
        pos, index = 0, -1
        for m in regex.get().finditer(t):
            start = m.start(1)
            index += t.count(" ", pos, start)
            pos = start
            if single is not None and not single.matches(m.group(1)):
                continue
            out.append((index, index + size))
        return out

    return spans


def _within(first: list[tuple[int, int]], second: list[tuple[int, int]], n: int) -> bool:
    """Some span of `first` ends at most `n` words before some span of `second` starts.

    For each span of `second` only the latest-ending span of `first` that ends before it
    can be closest: one bisect each, O((a + b) log a) instead of every pair."""
    ends = sorted(end for _, end in first)
    for start, _ in second:
        i = bisect_right(ends, start)
        if i and start - ends[i - 1] <= n:
            return True
    return False


def _near_check(node: Near) -> Check:
    left_present = compile_node(_group(node.left))
    right_present = compile_node(_group(node.right))
    lefts = [_spans_finder(w) for w in node.left]
    rights = [_spans_finder(w) for w in node.right]
    n = node.n

    def check(d: Doc, t: str) -> bool:
        if not (left_present(d, t) and right_present(d, t)):
            return False
        a = [s for f in lefts for s in f(t)]
        b = [s for f in rights for s in f(t)]
        return _within(a, b, n) or _within(b, a, n)

    return check


def _group(words: tuple[Words, ...]) -> Node:
    return words[0] if len(words) == 1 else Or(words)


class _LazyCheck:
    """A tree compiled on first call: an OR of many words needs it only for a few hits."""

    __slots__ = ("node", "_check")

    def __init__(self, node: Node) -> None:
        self.node = node
        self._check: Check | None = None

    def __call__(self, d: Doc, t: str) -> bool:
        if self._check is None:
            self._check = compile_node(self.node)
        return self._check(d, t)


def _any_words_check(nodes: list[Words]) -> Check:
    """One automaton pass over the doc for an OR of many words and phrases."""
    automaton = ahocorasick.Automaton()
    needles: dict[str, list[Check | None]] = {}
    for node in nodes:
        pieces = node.pieces
        if len(pieces) == 1 and pieces[0].mode != INFLECT:
            needles.setdefault(pieces[0].needle, []).insert(0, None)  # the needle is enough
        elif all(p.mode == EXACT for p in pieces):
            needles.setdefault(" " + " ".join(p.text for p in pieces) + " ", []).insert(0, None)
        else:
            # the rarest word as the key: "по городу" must not wake on every "по"
            needles.setdefault(min(pieces, key=piece_cost).needle, []).append(_LazyCheck(node))
    for needle, verifiers in needles.items():
        automaton.add_word(needle, tuple(verifiers))
    automaton.make_automaton()

    def check(d: Doc, t: str) -> bool:
        tried: set[int] | None = None  # a verifier reads the whole text: once per doc
        for _, verifiers in automaton.iter(t):
            for verify in verifiers:
                if verify is None:
                    return True
                if tried is None:
                    tried = set()
                elif id(verify) in tried:
                    continue
                tried.add(id(verify))
                if verify(d, t):
                    return True
        return False

    return check


def compile_node(node: Node) -> Check:
    """Compile a syntax tree into one function check(doc, doc.joined()) -> bool.

    The tree is written as a single Python expression (constants live in the function's
    namespace, never in the source text), so evaluating a query is one call, not one per node.
    """
    emitter = _Emitter()
    expr = emitter.expr(node)
    namespace = emitter.namespace
    exec(compile(f"def check(d, t):\n    return {expr}\n", "<query>", "exec"), namespace)
    check = namespace["check"]
    check.__doc__ = expr  # for debugging: what the query became
    return check


class _Emitter:
    """Writes a tree as an expression over `d` (the Doc) and `t` (its joined words)."""

    def __init__(self) -> None:
        self.namespace: dict[str, object] = {"_inflected_in": _inflected_in, "_piece_in": _piece_in}

    def const(self, value: object) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def expr(self, node: Node) -> str:
        if isinstance(node, Words):
            return self.words(node)
        if isinstance(node, Field):
            value = self.const(node.value)
            return {"entity": f"{value} in d.entities", "topic": f"{value} in d.topics",
                    "source": f"d.source.lower() == {value}",
                    "lang": f"d.language() == {value}"}[node.name]
        if isinstance(node, Near):
            return f"{self.const(_near_check(node))}(d, t)"
        if isinstance(node, Not):
            return f"not {self.expr(node.child)}"
        children = sorted(node.children, key=_cost)  # cheap tests first, lang: last
        is_and = isinstance(node, And)
        parts = self.set_tests(children, is_and)
        rest = [c for c in children if not (isinstance(c, Field) and c.name in ("entity", "topic"))]
        words = [c for c in rest if isinstance(c, Words)]
        if not is_and and len(words) >= OR_AUTOMATON_MIN:
            others = [c for c in rest if not isinstance(c, Words)]
            parts.extend(self.expr(c) for c in others if _cost(c) < 2)
            parts.append(f"{self.const(_any_words_check(words))}(d, t)")
            parts.extend(self.expr(c) for c in others if _cost(c) >= 2)
        else:
            parts.extend(self.expr(c) for c in rest)
        return "(" + (" and " if is_and else " or ").join(parts) + ")"

    def words(self, node: Words) -> str:
        pieces = node.pieces
        if len(pieces) == 1 and pieces[0].mode != INFLECT:
            return f"{self.const(pieces[0].needle)} in t"
        if len(pieces) == 1 and pieces[0].forms is not None:
            needle, piece = self.const(pieces[0].needle), self.const(pieces[0])
            return f"({needle} in t and _piece_in({piece}, t))"
        if len(pieces) == 1:
            needle = self.const(pieces[0].needle)
            return f"({needle} in t and _inflected_in({needle}, t))"
        if all(p.mode == EXACT for p in pieces):
            return f"{self.const(' ' + ' '.join(p.text for p in pieces) + ' ')} in t"
        anchor = self.const(min(pieces, key=piece_cost).needle)
        regex = self.const(_LazyRegex(" " + " ".join(p.pattern() for p in pieces) + "(?= )"))
        return f"({anchor} in t and {regex}.get().search(t) is not None)"

    def set_tests(self, children: Sequence[Node], is_and: bool) -> list[str]:
        """The entity: and topic: children of an AND/OR as one set operation each."""
        out = []
        for name, attr in (("entity", "d.entities"), ("topic", "d.topics")):
            values = frozenset(c.value for c in children if isinstance(c, Field) and c.name == name)
            if len(values) == 1:
                out.append(f"{self.const(next(iter(values)))} in {attr}")
            elif values and is_and:
                out.append(f"{self.const(values)} <= {attr}")
            elif values:
                out.append(f"not {self.const(values)}.isdisjoint({attr})")
        return out


