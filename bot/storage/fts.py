"""This module contains the translation of a query into an FTS5 prefilter."""

from __future__ import annotations

from bot.pipeline.query import Query


def fts_prefilter(query: Query) -> str | None:
    """An FTS5 MATCH expression every hit of `query` satisfies, or None to scan."""
    return None
