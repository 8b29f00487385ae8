"""This module contains the lexer and parser of the query language.

`parse_tree` turns query text into a syntax tree (`bot.pipeline.query_tree`) or raises
BadQuery naming the column and what was expected there. The parser is recursive descent,
loosest binding first: OR, AND (also juxtaposition), NOT / -, NEAR/n, then terms.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass

from bot.errors import BadQuery
from bot.pipeline.query_tree import (
    FIELDS,
    And,
    Field,
    Near,
    Node,
    Not,
    Or,
    Piece,
    Words,
    make_piece,
)
from bot.text import WORD_RE, fold, nfc

MAX_LENGTH = 20_000  # characters; a chat query is far shorter, the conflict topic about 11k
MAX_DEPTH = 64  # nested parentheses / NOTs, keeps the recursive parser and printer safe
_FIELD_RE = re.compile(r"([A-Za-z]+):")
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_.\-]*")
_LANG_RE = re.compile(r"[a-z]{2,3}")
_NEAR_RE = re.compile(r"NEAR/(\d{1,3})")
_QUOTES = "\"“”„«»"
_STOP = frozenset("()" + _QUOTES)  # besides any whitespace


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


def _fold_piece(text: str) -> list[str]:
    """Fold one query word exactly as post text is folded; folding may split it further.

    `fold` rather than `fold_word`: it is what made the post words (İ, markup underscores)."""
    out = []
    for part in WORD_RE.findall(fold(nfc(text)).folded):
        again = fold(part).folded  # fold to a fixpoint so printing round-trips
        out.extend([again] if again == part else WORD_RE.findall(again))
    return out


def _pieces(chunk: str, pos: int, *, quoted: bool, single: bool = False) -> list[Piece]:
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
    single = single and not last
    return [make_piece(t, star=star and i == last, quoted=quoted, caps=caps, single=single)
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
        return Words(tuple(_pieces(tok.text, tok.pos, quoted=False, single=True)))

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



def parse_tree(text: str, known_entities: Collection[str] | None = None) -> Node:
    """The syntax tree of `text`; BadQuery naming the position and what was expected.

    With `known_entities`, `entity:` ids outside the set are an error too."""
    if len(text) > MAX_LENGTH:
        raise BadQuery(f"the query is too long at {_col(MAX_LENGTH)}: expected at most "
                       f"{MAX_LENGTH} characters", MAX_LENGTH)
    return _Parser(text, known_entities).parse()
