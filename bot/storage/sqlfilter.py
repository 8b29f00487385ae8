"""This module contains the translation of a parsed query's fields into SQL conditions.

`entity:`, `topic:`, `source:` and a stored `lang` are columns of `posts`, so SQL can decide
them exactly; words can only be narrowed, by the FTS5 index (`bot.storage.fts`), which the
caller may pass in as `words` so that `kursk OR lang:uk` is narrowed too. For every node two
conditions are built: a *necessary* one (every post the node accepts satisfies it) and a
*sufficient* one (every post satisfying it is accepted). NOT swaps them, which is why both are
needed: `NOT entity:kursk` is exact in SQL, `NOT kursk` can only scan. A post whose language
is unknown (NULL) passes a `lang:` condition as a candidate: it is detected afterwards.

The result is a necessary condition for the whole query: it may let through posts the query
rejects (the query is evaluated exactly afterwards) but never drops one it accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.pipeline.query import And, Field, Near, Node, Not, Or, Query
from bot.pipeline.query import Words as WordsNode

# (sql, args); None stands for TRUE in a necessary condition and FALSE in a sufficient one.
Cond = tuple[str, list[Any]] | None

_NON_ASCII = "source_id GLOB '*[^ -~]*'"  # SQLite's lower() folds ASCII only
MAX_DEPTH = 40  # deeper trees are left to the exact evaluation (SQLite's parser has limits)


def _field(node: Field) -> tuple[Cond, Cond]:
    if node.name in ("entity", "topic"):
        column = "entities" if node.name == "entity" else "topics"
        cond = f"instr(' ' || {column} || ' ', ?) > 0"
        exact: Cond = (cond, [f" {node.value} "])
        return exact, exact
    if node.name == "source":
        return (f"(lower(source_id) = ? OR {_NON_ASCII})", [node.value]), \
            ("lower(source_id) = ?", [node.value])
    # lang: a stored code decides; an unknown one (NULL) may still turn out to be it.
    return ("(lang IS NULL OR lower(lang) = ?)", [node.value]), ("lower(lang) IS ?", [node.value])


def _join(parts: list[Cond], op: str, empty_is_none: bool) -> Cond:
    """AND/OR of conditions where None is the neutral (`empty_is_none`) or absorbing value."""
    kept = [p for p in parts if p is not None]
    if not empty_is_none and len(kept) < len(parts):
        return None  # an absorbing None: TRUE in an OR of necessaries, FALSE in an AND of sufficients
    if not kept:
        return None
    if len(kept) == 1:
        return kept[0]
    return "(" + f" {op} ".join(sql for sql, _ in kept) + ")", [a for _, args in kept for a in args]


def _negate(cond: Cond) -> Cond:
    return None if cond is None else (f"NOT {cond[0]}", cond[1])


WordsHook = Callable[[Node], Cond]  # a necessary condition for a Words or Near node


def _node(node: Node, depth: int, words: WordsHook | None) -> tuple[Cond, Cond]:
    """(necessary, sufficient) for one node."""
    if depth > MAX_DEPTH:
        return None, None
    if isinstance(node, Field):
        return _field(node)
    if isinstance(node, WordsNode | Near):
        # Words are never decided here (the index only narrows), so no sufficient condition.
        return (words(node) if words is not None else None), None
    if isinstance(node, Not):
        nec, suf = _node(node.child, depth + 1, words)
        # NOT of FALSE is TRUE: a missing sufficient condition leaves NOT without a filter.
        return _negate(suf), (None if nec is None else _negate(nec))
    if isinstance(node, And | Or):
        pairs = [_node(c, depth + 1, words) for c in node.children]
        necs, sufs = [p[0] for p in pairs], [p[1] for p in pairs]
        if isinstance(node, And):
            return _join(necs, "AND", True), _join(sufs, "AND", False)
        return _join(necs, "OR", False), _join(sufs, "OR", True)
    return None, None


def field_filter(query: Query, words: WordsHook | None = None) -> tuple[str, list[Any]] | None:
    """A SQL condition on `posts` every hit of `query` satisfies, or None when there is none.

    Without `words`, words count as unknown (TRUE); with it, each word node contributes the
    condition it returns."""
    return _node(query.root, 0, words)[0]

