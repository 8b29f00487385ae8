"""This module contains `wirewatch run`: every configured platform in one asyncio process.

Sources feed `App.ingest`; the relay drains the outbox; SIGTERM/SIGINT stop everything in
order (sources first, then the relay finishes its current alert, then platforms and store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot import logsafe
from bot.bootstrap import App
from bot.checks import refuse_unserved_rooms, require_runnable
from bot.errors import ConfigError, WirewatchError
from bot.logsafe import redact
from bot.platforms.console import ConsolePlatform
from bot.ports import Platform
from bot.settings import Settings
from bot.sources.supervisor import Pollers
from bot.workers import Heartbeat, default_name

log = logging.getLogger(__name__)


def make_platforms(app: App, role: str = "all") -> dict[str, Platform]:
    """One adapter per platform that has rooms in the store, or is configured.

    An `ingest` process needs only the chat platforms, receiving (they also answer commands);
    a `relay` process needs every platform alerts go to, sending only."""
    settings = app.settings
    stored = app.store.rooms()
    refuse_unserved_rooms(settings, stored)  # names each room, and how to remove it
    rooms = {r.platform for r in stored}
    receive, send = role in ("all", "ingest"), role in ("all", "relay")
    platforms: dict[str, Platform] = {}
    if send and "console" in rooms:
        platforms["console"] = ConsolePlatform(app.engine.renderer)
    if send and "webhook" in rooms:
        from bot.platforms.webhook import WebhookPlatform

        platforms["webhook"] = WebhookPlatform(app.engine.renderer)
    if settings.telegram is not None:
        from bot.platforms.telegram_adapter import TelegramPlatform

        platforms["telegram"] = TelegramPlatform(app, settings.telegram, receive=receive)
    if settings.discord is not None:
        from bot.platforms.discord_adapter import DiscordPlatform

        platforms["discord"] = DiscordPlatform(app, settings.discord, receive=receive)
    if receive:
        for record in app.store.sources():
            if record.platform in ("telegram", "discord") and record.platform not in platforms:
                log.warning("source %s is a %s source, but %s is not configured; it is not "
                            "watched", record.id, record.platform, record.platform)
    return platforms


ROLES = ("all", "ingest", "relay")


async def _start(platform: Platform) -> None:
    try:
        await platform.start()
    except ConfigError as exc:
        raise ConfigError(redact(str(exc)), [redact(p) for p in exc.problems]) from None
    except WirewatchError as exc:
        raise WirewatchError(redact(str(exc))) from None
    except Exception as exc:  # unreachable API, refused connection: say so plainly
        raise WirewatchError(redact(f"could not start {platform.name}: "
                                    f"{type(exc).__name__}: {exc}")) from None
    log.info("platform %s started", platform.name)


async def run(settings: Settings, *, stop: asyncio.Event | None = None,
              app: App | None = None, role: str = "all") -> int:
    """Run until `stop` (or SIGTERM/SIGINT) as one of the process roles: `all`; `ingest`
    (sources in, store and outbox, chat commands; never sends alerts); `relay` (only sends
    and edits alerts: no getUpdates, no gateway, no pollers). Any mix may share one store."""
    logsafe.install(settings)  # before anything can log a token
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    require_runnable(settings)  # what check-config --strict reports, before anything is opened
    app = app or App.open(settings)
    for room in app.store.rooms():  # webhook rooms made before the file changed
        if room.platform == "webhook":
            logsafe.add_secrets_from_env([room.chat])
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    heartbeat: Heartbeat | None = None
    try:
        platforms = make_platforms(app, role)
        delivery = settings.delivery
        heartbeat = Heartbeat(app.store, delivery.worker or default_name(role), role,
                              stale_after=delivery.stale_after)
        worker = heartbeat.start()
        relay = app.attach(platforms, worker=worker)
        for platform in platforms.values():
            await _start(platform)
        pollers = Pollers(app, stop)
        if role != "relay":
            pollers.reconcile()
            tasks.append(asyncio.create_task(pollers.supervise(), name="sources"))
        if role != "ingest":
            tasks.append(asyncio.create_task(relay.run(stop), name="relay"))
        log.info("wirewatch running as %s (%s, worker %s): %d rooms, %d subscriptions, %d polled "
                 "sources; Ctrl-C to stop", role, ", ".join(platforms) or "no platforms", worker,
                 len(app.store.rooms()), len(app.store.subscriptions()), len(pollers.running))
        await stop.wait()
        log.info("stopping")
    finally:
        stop.set()
        app.intake.release_waiters()  # a poller waiting on a full disk must not hold the stop
        if tasks:
            # The relay finishes the alert in hand (translation wait + one send), then stops.
            grace = app.settings.translation.alert_wait + 30
            done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await app.aclose(before_store_close=heartbeat.stop if heartbeat else None)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return 0
