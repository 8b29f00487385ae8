"""This module contains the translation of a parsed query into an FTS5 prefilter.

The prefilter may let through posts the query rejects (the query is evaluated exactly
afterwards) but must never drop one it accepts. FTS indexes the same folded words matching
sees, so a word, a prefix or an inflection stem (as a prefix) translates directly.
"""

from __future__ import annotations

from bot.pipeline.query import EXACT, INFLECT, And, Field, Near, Node, Not, Or, Piece, Query, Words


def _term(piece: Piece) -> str | None:
    text = piece.stem if piece.mode == INFLECT else piece.text
    text = text.replace('"', " ").strip()
    if not text:
        return None
    return f'"{text}"' if piece.mode == EXACT else f'"{text}"*'


def _words(node: Words) -> str | None:
    terms = [t for t in (_term(p) for p in node.pieces) if t]
    if not terms:
        return None
    return "search_text:(" + " AND ".join(terms) + ")"


def _any(nodes: tuple[Words, ...]) -> str | None:
    parts = [_words(n) for n in nodes]
    return None if not parts or None in parts else "(" + " OR ".join(parts) + ")"  # type: ignore[arg-type]


def _node(node: Node) -> str | None:
    if isinstance(node, Words):
        return _words(node)
    if isinstance(node, Field):
        if node.name in ("entity", "topic"):
            column = "entities" if node.name == "entity" else "topics"
            value = node.value.replace('"', " ")
            return f'{column}:"{value}"'
        return None  # lang and source are not in the index
    if isinstance(node, Not):
        return None
    if isinstance(node, And):
        parts = [p for p in (_node(c) for c in node.children) if p]
        return "(" + " AND ".join(parts) + ")" if parts else None
    if isinstance(node, Or):
        parts = [_node(c) for c in node.children]
        return None if None in parts else "(" + " OR ".join(parts) + ")"  # type: ignore[arg-type]
    if isinstance(node, Near):
        left, right = _any(node.left), _any(node.right)
        parts = [p for p in (left, right) if p]
        return "(" + " AND ".join(parts) + ")" if parts else None
    return None


MAX_DEPTH = 24  # FTS5's parser overflows its stack near 40 nested groups


def fts_prefilter(query: Query) -> str | None:
    """An FTS5 MATCH expression every hit of `query` satisfies, or None to scan."""
    expression = _node(query.root)
    if expression is None or _depth(expression) > MAX_DEPTH:
        return None
    return expression


def fts_node(node: Node) -> str | None:
    """An FTS5 MATCH expression every post `node` accepts satisfies, or None (for the SQL
    conditions of `bot.storage.sqlfilter`, which use it for the words of an OR with fields)."""
    expression = _node(node)
    if expression is None or _depth(expression) > MAX_DEPTH:
        return None
    return expression


def _depth(expression: str) -> int:
    deepest = level = 0
    quoted = False
    for ch in expression:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            level += 1
            deepest = max(deepest, level)
        elif not quoted and ch == ")":
            level -= 1
    return deepest
