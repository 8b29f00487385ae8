"""This module contains the webhook platform: each alert POSTed as JSON to a URL.

The body carries the alert's fields for any receiver, plus `text` (Slack incoming webhooks)
and `content`/`allowed_mentions` (Discord webhooks, which then ping nobody). The URL is a
secret, so the room names an environment variable holding it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import httpx

from bot.backoff import parse_retry_after
from bot.errors import DeliveryError
from bot.model import Alert, Room
from bot.platforms.textsafe import discord_safe, fit, slack_escape
from bot.render import AlertView, Renderer

log = logging.getLogger(__name__)


TEXT_LIMIT = 1900  # Slack `text`
CONTENT_LIMIT = 2000  # Discord `content`


def _message(body: str, facts: str, link: str | None, limit: int,
             escape: Callable[[str], str]) -> str:
    """Body, then facts and link, in at most `limit` characters after escaping: the body gives
    way first, so the link and the facts survive a long post."""
    # The facts take at most half (absurd entity lists); the link is never cut.
    tail = fit(facts, limit // 2, escape)
    if link:
        tail = " · ".join(filter(None, [tail, escape(link)]))
    tail = ("\n" + tail)[:limit]  # a link longer than the message: absurd, but bounded
    return fit(body, limit - len(tail), escape) + tail


def alert_payload(view: AlertView) -> dict[str, Any]:
    summary = view.translation or view.original
    lines = [summary]
    if view.translation:
        lines.append(f"Original ({view.language_label}): {view.original}")
    if view.note:
        lines.append(view.note)
    body = "\n".join(lines)
    facts = " · ".join(filter(None, [
        ", ".join(e.name for e in view.entities), view.subscription, view.source]))
    return {
        "room": view.room_id,
        "source": view.source,
        "link": view.link,
        "date": view.date.isoformat(),
        "lang": view.lang,
        "entities": [{"id": e.id, "name": e.name} for e in view.entities],
        "topics": list(view.topics),
        "subscription": view.subscription,
        "original": view.original,
        "translation": view.translation,
        "note": view.note,
        "text": _message(body, facts, view.link, TEXT_LIMIT, slack_escape),
        "content": _message(body, facts, view.link, CONTENT_LIMIT, discord_safe),
        "allowed_mentions": {"parse": []},
    }


class WebhookPlatform:
    name = "webhook"

    def __init__(self, renderer: Renderer, *, timeout: float = 10.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.renderer = renderer
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._client.aclose()

    def _url(self, room: Room) -> str:
        url = os.environ.get(room.chat, "").strip()
        if not url:
            raise DeliveryError(f"webhook room {room.id}: the environment variable {room.chat} "
                                f"holding its URL is not set")
        return url

    async def send(self, room: Room, alert: Alert) -> str | None:
        body = alert_payload(self.renderer.view(alert))
        if alert.story_id:
            body["story"] = alert.story_id
        await self._post(self._url(room), body)
        # A webhook message cannot be edited; the ref lets later reports of its story reach
        # the receiver as `update` events.
        return f"alert:{alert.id}" if alert.id is not None and alert.story_id else None

    async def edit(self, room: Room, ref: str, alert: Alert) -> None:
        """An `update` event: the alert's story has more sources (or its post was edited)."""
        body = alert_payload(self.renderer.view(alert))
        body.update({
            "event": "update", "alert": ref, "story": alert.story_id,
            "extra_sources": alert.extra_sources,
            "sources": [{"source": a.source, "link": a.link} for a in alert.also],
        })
        await self._post(self._url(room), body)

    async def _post(self, url: str, body: dict[str, Any]) -> None:
        try:
            response = await self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429:
            delay = parse_retry_after(response.headers.get("Retry-After"))  # seconds or a date
            raise DeliveryError("webhook rate limit", retry_after=5.0 if delay is None else delay)
        if response.status_code >= 500:
            raise DeliveryError(f"webhook server error {response.status_code}")
        if response.status_code >= 400:
            raise DeliveryError(f"webhook refused: {response.status_code}", permanent=True)
