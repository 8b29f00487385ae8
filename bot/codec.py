"""This module contains JSON encoding of posts and alerts, for the outbox and replay files."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bot.model import Alert, Analysis, Mention, Post, SourceRef


def parse_date(value: Any) -> datetime:
    """Accept ISO 8601 text or unix seconds; naive times are taken as UTC."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float):
        dt = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str) and value:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError(f"not a date: {value!r}")
    # Stored and compared as UTC text, so every date must be in UTC.
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def post_to_dict(post: Post) -> dict[str, Any]:
    data = asdict(post)
    data["date"] = post.date.isoformat()
    return data


def post_from_dict(data: dict[str, Any]) -> Post:
    return Post(
        source_id=str(data["source_id"]),
        platform=str(data["platform"]),
        chat=str(data["chat"]),
        message_id=str(data["message_id"]),
        text=str(data.get("text") or ""),
        date=parse_date(data["date"]),
        author=data.get("author"),
        url=data.get("url"),
        edited=bool(data.get("edited", False)),
        origin=data.get("origin"),
    )


def alert_to_json(alert: Alert) -> str:
    data = {
        "post": post_to_dict(alert.post),
        "room_id": alert.room_id,
        "subscription_id": alert.subscription_id,
        "mentions": [asdict(m) for m in alert.analysis.mentions],
        "topics": list(alert.analysis.topics),
        "lang": alert.analysis.lang,
        "lang_confidence": alert.analysis.lang_confidence,
        "translation": alert.translation,
        "translation_note": alert.translation_note,
        "extra_sources": alert.extra_sources,
        "story_id": alert.story_id,
        "also": [asdict(ref) for ref in alert.also],
    }
    return json.dumps(data, ensure_ascii=False)


def alert_from_json(text: str, alert_id: int | None = None) -> Alert:
    data = json.loads(text)
    analysis = Analysis(
        mentions=tuple(Mention(**m) for m in data.get("mentions", ())),
        topics=tuple(data.get("topics", ())),
        lang=data.get("lang"),
        lang_confidence=float(data.get("lang_confidence") or 0.0),
    )
    return Alert(
        post=post_from_dict(data["post"]),
        room_id=data["room_id"],
        subscription_id=data["subscription_id"],
        analysis=analysis,
        id=alert_id,
        translation=data.get("translation"),
        translation_note=data.get("translation_note"),
        extra_sources=int(data.get("extra_sources") or 0),
        story_id=data.get("story_id"),
        also=tuple(SourceRef(**ref) for ref in data.get("also") or ()),
    )
