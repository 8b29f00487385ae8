"""This module contains the syntax tree of the query language and its canonical printing.

A query is a tree of `Words` (one word or a phrase of `Piece`s), `Field` (entity:, topic:,
lang:, source:), `Not`, `And`, `Or` and `Near`. `to_str` prints a tree in a canonical form
that `bot.pipeline.query_parser` parses back to an equal tree. How one piece matches a post
word (exact, prefix, light Russian/Ukrainian inflection) is described in `bot.pipeline.query`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

from bot.pipeline.wordforms import WordForms, word_forms

FIELDS = ("entity", "topic", "lang", "source")

Mode = Literal["exact", "prefix", "inflect"]
EXACT: Mode = "exact"
PREFIX: Mode = "prefix"
INFLECT: Mode = "inflect"

# Case endings of Russian and Ukrainian nouns and adjectives (ё already folded to е).
ENDINGS = frozenset(
    "а я о е ь ы и у ю ой ей ою ею ом ем ам ям ах ях ами ями ов ев ью ия ие ий ию ии ием ией "
    "иям иях иями ья ье ьи ьем ьям ьях ьями ый ая яя ое ее ые ого его ому ему ым им ую юю ых их "
    "ыми ими і ї є ові еві єві ів їв єю ій ім іх ої ього ьому ія ії ію ією іям іями іях".split()
) | {""}
_ENDINGS_RX = "(?:" + "|".join(sorted((e for e in ENDINGS if e), key=len, reverse=True)) + "|)"
_MAX_ENDING = max(map(len, ENDINGS))
_MIN_STEM = 3
_MIN_INFLECT = 4
_CYRILLIC_WORD_RE = re.compile(r"[\u0430-\u045f\u0491]+")
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_FIELD_RE = re.compile(r"([A-Za-z]+):")


def is_hangul(word: str) -> bool:
    return bool(word) and _HANGUL_RE.match(word[-1]) is not None


def inflectable(word: str) -> bool:
    return len(word) >= _MIN_INFLECT and _CYRILLIC_WORD_RE.fullmatch(word) is not None


def _stem(word: str) -> str:
    for cut in range(min(_MAX_ENDING, len(word) - _MIN_STEM), 0, -1):
        if word[-cut:] in ENDINGS:
            return word[:-cut]
    return word


@dataclass(frozen=True, slots=True)
class Piece:
    """One query word: its folded text and how it matches a post word."""

    text: str
    mode: Mode
    stem: str = ""  # inflect mode: every matching word starts with it
    # A plain word on its own (not in a phrase): its Snowball forms (bot.pipeline.wordforms),
    # and for a Cyrillic word its stem less the case ending (the ru/uk ending rule).
    forms: WordForms | None = None
    ending_stem: str = ""

    @property
    def needle(self) -> str:
        """A substring of `Doc.joined()` present whenever this piece matches some word."""
        if self.mode == EXACT:
            return f" {self.text} "
        return " " + (self.stem if self.mode == INFLECT else self.text)

    def pattern(self) -> str:
        if self.mode == EXACT:
            return re.escape(self.text)
        if self.mode == PREFIX:
            return re.escape(self.text) + "[^ ]*"
        if self.forms is not None:
            return re.escape(self.stem) + "[^ ]*"  # a superset: `matches` says which words
        return re.escape(self.stem) + _ENDINGS_RX

    def matches(self, word: str) -> bool:
        """Whether one folded post word (starting with `stem`) is a form of this piece."""
        if self.ending_stem and word[len(self.ending_stem):] in ENDINGS \
                and word.startswith(self.ending_stem):
            return True
        return self.forms is not None and self.forms.matches(word)


def make_piece(text: str, *, star: bool = False, quoted: bool = False, caps: bool = False,
               single: bool = False) -> Piece:
    """A query word's piece; `single`: the word stands alone, not inside a phrase, so a
    plain word also matches its Snowball forms."""
    if star or is_hangul(text):
        return Piece(text, PREFIX)
    if quoted or caps:
        return Piece(text, EXACT)
    forms = word_forms(text) if single else None
    if inflectable(text):
        stem = _stem(text)
        if forms is None:
            return Piece(text, INFLECT, stem)
        return Piece(text, INFLECT, os.path.commonprefix([stem, forms.prefix]), forms, stem)
    if forms is not None:
        return Piece(text, INFLECT, forms.prefix, forms)
    return Piece(text, EXACT)


@dataclass(frozen=True, slots=True)
class Words:
    """A word, or a phrase: consecutive post words matching the pieces in order."""

    pieces: tuple[Piece, ...]


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # one of FIELDS
    value: str


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Near:
    """Some alternative of `left` and some of `right`, at most `n` words between them."""

    left: tuple[Words, ...]
    right: tuple[Words, ...]
    n: int


Node: TypeAlias = Words | Field | Not | And | Or | Near


def walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Not):
        yield from walk(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Near):
        yield from node.left
        yield from node.right



def piece_cost(piece: Piece) -> float:
    """Rough chance that a post has this piece: each letter halves it, and a prefix is as
    common as a word one letter shorter. Used to pick what to search and index on."""
    size = len(piece.stem if piece.mode == INFLECT else piece.text)
    if piece.mode == PREFIX:
        size -= 1
    return 0.5 ** max(size, 0)



def _bare_piece(piece: Piece, last: bool) -> str | None:
    """How `piece` is written outside quotes, or None when it cannot be."""
    if piece.mode == PREFIX:
        if is_hangul(piece.text):
            return piece.text
        return piece.text + "*" if last else None
    if piece.mode == EXACT and inflectable(piece.text):
        return piece.text.upper()  # capitals are the bare spelling of an exact Cyrillic word
    return piece.text


def _words_str(node: Words) -> str:
    pieces = node.pieces
    if len(pieces) == 1 or any(p.mode == INFLECT for p in pieces):
        bare = [_bare_piece(p, i == len(pieces) - 1) for i, p in enumerate(pieces)]
        if None not in bare and (len(pieces) > 1 or pieces[0].mode != EXACT
                                 or not (inflectable(pieces[0].text)
                                         or word_forms(pieces[0].text) is not None)):
            return "-".join(bare)  # type: ignore[arg-type]
    inner = " ".join(
        p.text + ("*" if p.mode == PREFIX and not is_hangul(p.text) else "") for p in pieces
    )
    return f'"{inner}"'


def _group_str(group: tuple[Words, ...]) -> str:
    if len(group) == 1:
        return _words_str(group[0])
    return "(" + " OR ".join(_words_str(w) for w in group) + ")"


def to_str(node: Node) -> str:
    """The canonical text of a syntax tree: parsing it gives the same tree."""
    if isinstance(node, Words):
        return _words_str(node)
    if isinstance(node, Field):
        return f"{node.name}:{node.value}"
    if isinstance(node, Near):
        return f"{_group_str(node.left)} NEAR/{node.n} {_group_str(node.right)}"
    if isinstance(node, Not):
        inner = to_str(node.child)
        return "NOT " + (f"({inner})" if isinstance(node.child, And | Or) else inner)
    if isinstance(node, And):
        return " AND ".join(f"({to_str(c)})" if isinstance(c, Or) else to_str(c)
                            for c in node.children)
    return " OR ".join(to_str(c) for c in node.children)

