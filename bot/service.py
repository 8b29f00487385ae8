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
from bot.checks import refuse_unserved_rooms, require_runnable
from bot.errors import WirewatchError
from bot.platforms.console import ConsolePlatform
from bot.ports import Platform
from bot.settings import Settings
from bot.sources.supervisor import Pollers

log = logging.getLogger(__name__)


def make_platforms(app: App) -> dict[str, Platform]:
    """One adapter per platform that has rooms in the store, or is configured."""
    settings = app.settings
    stored = app.store.rooms()
    refuse_unserved_rooms(settings, stored)  # names each room, and how to remove it
    rooms = {r.platform for r in stored}
    platforms: dict[str, Platform] = {}
    if "console" in rooms:
        platforms["console"] = ConsolePlatform(app.engine.renderer)
    if "webhook" in rooms:
        from bot.platforms.webhook import WebhookPlatform

        platforms["webhook"] = WebhookPlatform(app.engine.renderer)
    if settings.telegram is not None:
        from bot.platforms.telegram_adapter import TelegramPlatform

        platforms["telegram"] = TelegramPlatform(app, settings.telegram)
    if settings.discord is not None:
        from bot.platforms.discord_adapter import DiscordPlatform

        platforms["discord"] = DiscordPlatform(app, settings.discord)
    for record in app.store.sources():
        if record.platform in ("telegram", "discord") and record.platform not in platforms:
            log.warning("source %s is a %s source, but %s is not configured; it is not watched",
                        record.id, record.platform, record.platform)
    return platforms


async def run(settings: Settings, *, stop: asyncio.Event | None = None,
              app: App | None = None) -> int:
    require_runnable(settings)  # what check-config --strict reports, before anything is opened
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
            try:
                await platform.start()
            except WirewatchError:
                raise
            except Exception as exc:  # unreachable API, refused connection: say so plainly
                raise WirewatchError(f"could not start {platform.name}: "
                                     f"{type(exc).__name__}: {exc}") from exc
            log.info("platform %s started", platform.name)
        pollers = Pollers(app, stop)
        pollers.reconcile()
        tasks = [asyncio.create_task(pollers.supervise(), name="sources"),
                 asyncio.create_task(relay.run(stop), name="relay")]
        log.info("wirewatch running: %d rooms, %d subscriptions, %d polled sources; Ctrl-C to stop",
                 len(app.store.rooms()), len(app.store.subscriptions()), len(pollers.running))
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
