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
- Everything else, every word inside "quotes", and a Cyrillic word typed in capitals (an
  acronym: НАТО, ВСУ) matches exactly. Quotes are the way to ask for one exact form.

A post is seen as its words joined by single spaces, with a space on each side
(`Doc.joined`); most checks are then one substring search in C. Queries compile once into
closures, and an OR of many words into one Aho-Corasick automaton. `str(query)` prints a
canonical form that parses back to an equal query.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, TypeAlias

import ahocorasick

from bot.errors import BadQuery
from bot.text import WORD_RE, fold, nfc

log = logging.getLogger(__name__)

FIELDS = ("entity", "topic", "lang", "source")
MAX_LENGTH = 10_000  # characters; a chat query is far shorter, a topic file entry a bit
MAX_DEPTH = 64  # nested parentheses / NOTs, keeps the recursive parser and printer safe
OR_AUTOMATON_MIN = 6  # an OR of this many words is checked with one automaton pass

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
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_.\-]*")
_LANG_RE = re.compile(r"[a-z]{2,3}")
_NEAR_RE = re.compile(r"NEAR/(\d{1,3})")
_QUOTES = "\"“”„«»"
_STOP = frozenset("()" + _QUOTES)  # besides any whitespace


# ---------------------------------------------------------------------------------------------
# Documents


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


# ---------------------------------------------------------------------------------------------
# Syntax tree


def _is_hangul(word: str) -> bool:
    return bool(word) and _HANGUL_RE.match(word[-1]) is not None


def _inflectable(word: str) -> bool:
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
    stem: str = ""  # inflect mode: the text without its case ending

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
        return re.escape(self.stem) + _ENDINGS_RX


def _piece(text: str, *, star: bool = False, quoted: bool = False, caps: bool = False) -> Piece:
    if star or _is_hangul(text):
        return Piece(text, PREFIX)
    if not quoted and not caps and _inflectable(text):
        return Piece(text, INFLECT, _stem(text))
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


def _walk(node: Node):
    yield node
    if isinstance(node, Not):
        yield from _walk(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _walk(child)
    elif isinstance(node, Near):
        yield from node.left
        yield from node.right


# ---------------------------------------------------------------------------------------------
# Printing


def _bare_piece(piece: Piece, last: bool) -> str | None:
    """How `piece` is written outside quotes, or None when it cannot be."""
    if piece.mode == PREFIX:
        if _is_hangul(piece.text):
            return piece.text
        return piece.text + "*" if last else None
    if piece.mode == EXACT and _inflectable(piece.text):
        return piece.text.upper()  # capitals are the bare spelling of an exact Cyrillic word
    return piece.text


def _words_str(node: Words) -> str:
    pieces = node.pieces
    if len(pieces) == 1 or any(p.mode == INFLECT for p in pieces):
        bare = [_bare_piece(p, i == len(pieces) - 1) for i, p in enumerate(pieces)]
        if None not in bare and (len(pieces) > 1 or pieces[0].mode != EXACT
                                 or not _inflectable(pieces[0].text)):
            return "-".join(bare)  # type: ignore[arg-type]
    inner = " ".join(
        p.text + ("*" if p.mode == PREFIX and not _is_hangul(p.text) else "") for p in pieces
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


# ---------------------------------------------------------------------------------------------
# Lexer


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ( ) WORD PHRASE AND OR NOT NEAR - EOF
    text: str
    pos: int
    n: int = 0


def _col(pos: int) -> str:
    return f"column {pos + 1}"


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, size = 0, len(text)
    while i < size:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, ch, i))
            i += 1
        elif ch in _QUOTES:
            end = i + 1
            while end < size and text[end] not in _QUOTES:
                end += 1
            if end >= size:
                raise BadQuery(f"expected a closing quote for the phrase opened at {_col(i)}, "
                               f"at {_col(size)}", size)
            tokens.append(_Token("PHRASE", text[i + 1:end], i))
            i = end + 1
        elif ch == "-" and i + 1 < size and not text[i + 1].isspace() and text[i + 1] != ")":
            tokens.append(_Token("-", ch, i))
            i += 1
        else:
            end = i
            while end < size and text[end] not in _STOP and not text[end].isspace():
                end += 1
            word = text[i:end]
            if word in ("AND", "OR", "NOT"):
                tokens.append(_Token(word, word, i))
            elif word.startswith("NEAR/") or word == "NEAR":
                match = _NEAR_RE.fullmatch(word)
                if match is None:
                    at = i + min(len(word), 5)
                    raise BadQuery(f"expected NEAR/n with a number of words n at {_col(at)}, "
                                   "e.g. NEAR/5", at)
                tokens.append(_Token("NEAR", word, i, int(match.group(1))))
            else:
                tokens.append(_Token("WORD", word, i))
            i = end
    tokens.append(_Token("EOF", "", size))
    return tokens


# ---------------------------------------------------------------------------------------------
# Parser


def _fold_piece(text: str) -> list[str]:
    """Fold one query word exactly as post text is folded; folding may split it further.

    `fold` rather than `fold_word`: it is what made the post words (İ, markup underscores)."""
    out = []
    for part in WORD_RE.findall(fold(nfc(text)).folded):
        again = fold(part).folded  # fold to a fixpoint so printing round-trips
        out.extend([again] if again == part else WORD_RE.findall(again))
    return out


def _pieces(chunk: str, pos: int, *, quoted: bool) -> list[Piece]:
    """Pieces of one space-free chunk of a term or phrase (`north-korea*` gives two)."""
    star = chunk.endswith("*")
    body = chunk.rstrip("*")
    if len(chunk) - len(body) > 1 or "*" in body:
        at = pos + (body.index("*") if "*" in body else len(body) + 1)
        raise BadQuery(f"unexpected '*' at {_col(at)}: expected '*' only once, at the end of a "
                       "word", at)
    raw: list[tuple[str, bool]] = []
    for match in WORD_RE.finditer(body):
        original = match.group(0)
        caps = len(original) >= 2 and original.isupper()
        raw.extend((text, caps) for text in _fold_piece(original))
    if not raw:
        what = "a word before '*'" if star and not body else "a word"
        raise BadQuery(f"expected {what} at {_col(pos)}, found {chunk!r}", pos)
    last = len(raw) - 1
    return [_piece(t, star=star and i == last, quoted=quoted, caps=caps)
            for i, (t, caps) in enumerate(raw)]


class _Parser:
    def __init__(self, text: str, known_entities: Collection[str] | None) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.i = 0
        self.depth = 0
        self.known = known_entities

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "EOF":
            raise BadQuery("the query is empty: expected a word, a \"phrase\" or a field such "
                           f"as entity:russia at {_col(0)}", 0)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind == ")":
            raise BadQuery(f"unexpected ')' at {_col(tok.pos)}: expected an operator or the end "
                           "of the query", tok.pos)
        if tok.kind != "EOF":  # only a second NEAR stops parse_and early
            raise BadQuery(f"expected AND, OR or the end of the query at {_col(tok.pos)}, found "
                           f"{tok.text}: NEAR joins exactly two terms", tok.pos)
        return node

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise BadQuery(f"too deeply nested at {_col(pos)}: expected at most {MAX_DEPTH} "
                           "levels of parentheses and NOTs", pos)

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.peek().kind == "OR":
            self.take()
            items.append(self.parse_and())
        return _or(items)

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
            elif kind not in ("WORD", "PHRASE", "(", "NOT", "-"):
                break
            items.append(self.parse_unary())
        return _and(items)

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("NOT", "-"):
            self.take()
            self.enter(tok.pos)
            child = self.parse_unary()
            self.depth -= 1
            return Not(child)
        return self.parse_near()

    def parse_near(self) -> Node:
        start = self.peek().pos
        left = self.parse_primary()
        tok = self.peek()
        if tok.kind != "NEAR":
            return left
        left_group = _near_group(left)
        if left_group is None:
            raise BadQuery(f"expected a word, a phrase or an OR of them before {tok.text} "
                           f"at {_col(start)}", start)
        self.take()
        start = self.peek().pos
        right_group = _near_group(self.parse_primary())
        if right_group is None:
            raise BadQuery(f"expected a word, a phrase or an OR of them after {tok.text} "
                           f"at {_col(start)}", start)
        return Near(left_group, right_group, tok.n)

    def parse_primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.take()
            self.enter(tok.pos)
            node = self.parse_or()
            close = self.peek()
            if close.kind != ")":
                raise BadQuery(f"expected ')' at {_col(close.pos)} to close the '(' at "
                               f"{_col(tok.pos)}", close.pos)
            self.take()
            self.depth -= 1
            return node
        if tok.kind == "WORD":
            self.take()
            return self.word(tok)
        if tok.kind == "PHRASE":
            self.take()
            return self.phrase(tok)
        if tok.kind == "EOF":
            more = " or ')'" if self.depth else ""
            raise BadQuery(f"expected a term{more} at {_col(tok.pos)}", tok.pos)
        raise BadQuery(f"expected a term at {_col(tok.pos)}, found {tok.text}", tok.pos)

    def word(self, tok: _Token) -> Node:
        match = _FIELD_RE.match(tok.text)
        if match is not None:
            return self.field(tok, match.group(1).lower(), tok.text[match.end():])
        return Words(tuple(_pieces(tok.text, tok.pos, quoted=False)))

    def phrase(self, tok: _Token) -> Words:
        pieces: list[Piece] = []
        for chunk in re.finditer(r"\S+", tok.text):
            pieces.extend(_pieces(chunk.group(0), tok.pos + 1 + chunk.start(), quoted=True))
        if not pieces:
            raise BadQuery(f"expected words between the quotes at {_col(tok.pos)}", tok.pos)
        return Words(tuple(pieces))

    def field(self, tok: _Token, name: str, raw: str) -> Field:
        at = tok.pos + len(name) + 1
        if name not in FIELDS:
            raise BadQuery(f"unknown field {name!r} at {_col(tok.pos)}: expected one of "
                           + ", ".join(f + ":" for f in FIELDS), tok.pos)
        value = raw.lower()
        if not value:
            what = "a language code" if name == "lang" else f"an {name} id" if name == "entity" \
                else f"a {name} id"
            raise BadQuery(f"expected {what} after '{name}:' at {_col(at)}", at)
        pattern = _LANG_RE if name == "lang" else _ID_RE
        if pattern.fullmatch(value) is None:
            good = pattern.match(value) if name != "lang" else None
            bad = at + (good.end() if good else 0)  # the first bad character of an id
            what = "a language code such as ru or ko" if name == "lang" else "letters, digits, _ . -"
            raise BadQuery(f"bad {name} id {raw!r} at {_col(bad)}: expected {what}", bad)
        if name == "entity" and self.known is not None and value not in self.known:
            close = difflib.get_close_matches(value, list(self.known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise BadQuery(f"unknown entity {value!r} at {_col(at)}: expected a known entity "
                           f"id{hint}", at)
        return Field(name, value)


def _and(items: list[Node]) -> Node:
    flat: list[Node] = []
    for item in items:
        flat.extend(item.children if isinstance(item, And) else (item,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def _or(items: list[Node]) -> Node:
    flat: list[Node] = []
    for item in items:
        flat.extend(item.children if isinstance(item, Or) else (item,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def _near_group(node: Node) -> tuple[Words, ...] | None:
    if isinstance(node, Words):
        return (node,)
    if isinstance(node, Or) and all(isinstance(c, Words) for c in node.children):
        return node.children  # type: ignore[return-value]
    return None


# ---------------------------------------------------------------------------------------------
# Compilation: a tree becomes nested closures check(doc, joined_text) -> bool


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
        return _cost(node.child)
    return sum(_cost(c) for c in node.children)


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


def _words_check(node: Words) -> Check:
    pieces = node.pieces
    if len(pieces) == 1:
        piece = pieces[0]
        needle = piece.needle
        if piece.mode == INFLECT:
            return lambda d, t: needle in t and _inflected_in(needle, t)
        return lambda d, t: needle in t
    if all(p.mode == EXACT for p in pieces):
        needle = " " + " ".join(p.text for p in pieces) + " "
        return lambda d, t: needle in t
    anchor = min(pieces, key=piece_cost).needle
    regex = _LazyRegex(" " + " ".join(p.pattern() for p in pieces) + "(?= )")
    return lambda d, t: anchor in t and regex.get().search(t) is not None


def _spans_finder(node: Words) -> Callable[[str], list[tuple[int, int]]]:
    """Word spans [start, end) of every occurrence of `node` in a joined text, overlaps
    included. A word's index is the number of spaces before it, less one."""
    size = len(node.pieces)
    regex = _LazyRegex(" (?=(" + " ".join(p.pattern() for p in node.pieces) + ") )")

    def spans(t: str) -> list[tuple[int, int]]:
        out = []
        for m in regex.get().finditer(t):
            i = t.count(" ", 0, m.start(1)) - 1
            out.append((i, i + size))
        return out

    return spans


def _near_check(node: Near) -> Check:
    left_present = _any([_words_check(w) for w in node.left])
    right_present = _any([_words_check(w) for w in node.right])
    lefts = [_spans_finder(w) for w in node.left]
    rights = [_spans_finder(w) for w in node.right]
    n = node.n

    def check(d: Doc, t: str) -> bool:
        if not (left_present(d, t) and right_present(d, t)):
            return False
        a = [s for f in lefts for s in f(t)]
        b = [s for f in rights for s in f(t)]
        for a0, a1 in a:
            for b0, b1 in b:
                if (a1 <= b0 and b0 - a1 <= n) or (b1 <= a0 and a0 - b1 <= n):
                    return True
        return False

    return check


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
            needles.setdefault(pieces[0].needle, []).append(_words_check(node))
    for needle, verifiers in needles.items():
        automaton.add_word(needle, tuple(verifiers))
    automaton.make_automaton()

    def check(d: Doc, t: str) -> bool:
        for _, verifiers in automaton.iter(t):
            for verify in verifiers:
                if verify is None or verify(d, t):
                    return True
        return False

    return check


def _any(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda d, t: first(d, t) or second(d, t)

    def check(d: Doc, t: str) -> bool:
        for c in checks:
            if c(d, t):
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
        self.namespace: dict[str, object] = {"_inflected_in": _inflected_in}

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


def piece_cost(piece: Piece) -> float:
    """Rough chance that a post has this piece: each letter halves it, and a prefix is as
    common as a word one letter shorter. Used to pick what to search and index on."""
    size = len(piece.stem if piece.mode == INFLECT else piece.text)
    if piece.mode == PREFIX:
        size -= 1
    return 0.5 ** max(size, 0)


# ---------------------------------------------------------------------------------------------
# The public face


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
        return any(isinstance(n, Field) and n.name == "lang" for n in _walk(self.root))

    def entities(self) -> frozenset[str]:
        return self._values("entity")

    def topics(self) -> frozenset[str]:
        return self._values("topic")

    def _values(self, name: str) -> frozenset[str]:
        return frozenset(n.value for n in _walk(self.root) if isinstance(n, Field) and n.name == name)

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
        raise BadQuery(f"the query is too long at {_col(MAX_LENGTH)}: expected at most "
                       f"{MAX_LENGTH} characters", MAX_LENGTH)
    query = _parse_cached(text)
    if known_entities is not None and any(e not in known_entities for e in query.entities()):
        _Parser(text, known_entities).parse()  # raises the error with its position
    return query


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Query:
    root = _Parser(text, None).parse()
    return Query(text, root, compile_node(root))
