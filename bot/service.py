"""This module contains `wirewatch run`: every configured platform in one asyncio process.

Sources feed `App.ingest`; the relay drains the outbox; SIGTERM/SIGINT stop everything in
order (sources first, then the relay finishes its current alert, then platforms and store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from bot.bootstrap import App
from bot.errors import ConfigError
from bot.platforms.console import ConsolePlatform
from bot.ports import Platform
from bot.settings import Settings

log = logging.getLogger(__name__)


def make_platforms(app: App) -> dict[str, Platform]:
    """One adapter per platform that has rooms or sources in the store or the config."""
    settings = app.settings
    wanted = {r.platform for r in app.store.rooms()} | {s.platform for s in app.store.sources()}
    platforms: dict[str, Platform] = {}
    if "console" in wanted:
        platforms["console"] = ConsolePlatform(app.engine.renderer)
    if "webhook" in wanted:
        from bot.platforms.webhook import WebhookPlatform

        platforms["webhook"] = WebhookPlatform(app.engine.renderer)
    if "telegram" in wanted or settings.telegram is not None:
        if settings.telegram is None:
            raise ConfigError("rooms or sources use telegram, but the config has no `telegram:` section")
        from bot.platforms.telegram_adapter import TelegramPlatform

        platforms["telegram"] = TelegramPlatform(app, settings.telegram)
    if "discord" in wanted or settings.discord is not None:
        if settings.discord is None:
            raise ConfigError("rooms or sources use discord, but the config has no `discord:` section")
        from bot.platforms.discord_adapter import DiscordPlatform

        platforms["discord"] = DiscordPlatform(app, settings.discord)
    return platforms


def make_pollers(app: App) -> list[Any]:
    """Sources the process polls itself (public Telegram previews, feeds)."""
    from bot.sources.telegram_public import TelegramPublicSource

    pollers = []
    configured = {s.id: s for s in app.settings.sources}
    for record in app.store.sources():
        if not record.enabled:
            continue
        if record.platform == "telegram_public":
            cursor = int(record.cursor) if record.cursor and record.cursor.isdigit() else None
            conf = configured.get(record.id)
            pollers.append(TelegramPublicSource(
                record.id, record.address, interval=conf.interval if conf else 60.0,
                base_url=(conf.url if conf and conf.url else "https://t.me/s/"), cursor=cursor,
            ))
        elif record.platform == "rss":
            log.warning("source %s: RSS feeds are not supported yet; skipped", record.id)
    return pollers


async def _poll(app: App, source: Any, stop: asyncio.Event) -> None:
    async def emit(post: Any) -> None:
        await app.ingest(post)
        if source.cursor is not None:
            app.store.set_cursor(source.source_id, str(source.cursor))
        app.source_health[source.source_id] = source.health

    app.source_health[source.source_id] = source.health
    try:
        await source.run(emit, stop)
    finally:
        await source.aclose()
        if source.cursor is not None:  # media-only posts move the cursor without an emit
            app.store.set_cursor(source.source_id, str(source.cursor))


async def run(settings: Settings, *, stop: asyncio.Event | None = None,
              app: App | None = None) -> int:
    app = app or App.open(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[Any]] = []
    try:
        platforms = make_platforms(app)
        relay = app.attach(platforms)
        for platform in platforms.values():
            await platform.start()
            log.info("platform %s started", platform.name)
        pollers = make_pollers(app)
        tasks = [asyncio.create_task(_poll(app, p, stop), name=f"source:{p.source_id}") for p in pollers]
        tasks.append(asyncio.create_task(relay.run(stop), name="relay"))
        log.info("wirewatch running: %d rooms, %d subscriptions, %d polled sources; Ctrl-C to stop",
                 len(app.store.rooms()), len(app.store.subscriptions()), len(pollers))
        await stop.wait()
        log.info("stopping")
    finally:
        stop.set()
        if tasks:
            # The relay finishes the alert in hand (translation wait + one send), then stops.
            grace = app.settings.translation.alert_wait + 30
            done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await app.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return 0
