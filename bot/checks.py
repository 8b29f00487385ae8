"""This module contains the checks of a config that need the watchlists: entity ids in
queries, topic ids, and the watchlist files themselves."""

from __future__ import annotations

from bot.errors import BadQuery, ConfigError
from bot.pipeline.entities import Watchlist
from bot.pipeline.query import parse
from bot.pipeline.topics import Topics
from bot.settings import Settings


def check_settings(settings: Settings) -> list[str]:
    """Every problem found, each with its key path; an empty list means the config is usable."""
    problems: list[str] = []
    try:
        watchlist = Watchlist.load(settings.entities)
    except ConfigError as exc:
        return [f"entities: {p}" for p in exc.problems]
    known = set(watchlist.ids)
    try:
        topics = Topics.load(settings.topics, known_entities=known)
    except ConfigError as exc:
        return [f"topics: {p}" for p in exc.problems]
    topic_ids = set(topics.ids)
    for i, room in enumerate(settings.rooms):
        for j, sub in enumerate(room.subscriptions):
            where = f"rooms[{i}].subscriptions[{j}].query"
            try:
                query = parse(sub.query, known_entities=known)
            except BadQuery as exc:
                problems.append(f"{where}: {exc}")
                continue
            missing = sorted(_topic_refs(sub.query) - topic_ids)
            if missing:
                problems.append(f"{where}: unknown topic(s) {', '.join(missing)}; "
                                f"known: {', '.join(sorted(topic_ids))}")
            del query
    return problems


def _topic_refs(text: str) -> set[str]:
    import re

    return {m.lower() for m in re.findall(r"topic:([A-Za-z0-9_\-]+)", text)}
