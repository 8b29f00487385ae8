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
from bot.errors import ConfigError, WirewatchError
from bot.platforms.console import ConsolePlatform
from bot.ports import Platform, SourceRecord
from bot.settings import Settings

log = logging.getLogger(__name__)


def make_platforms(app: App) -> dict[str, Platform]:
    """One adapter per platform that has rooms in the store, or is configured."""
    settings = app.settings
    rooms = {r.platform for r in app.store.rooms()}
    for kind in ("telegram", "discord"):
        if kind in rooms and getattr(settings, kind) is None:
            raise ConfigError(f"rooms use {kind}, but the config has no `{kind}:` section")
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


def make_poller(app: App, record: SourceRecord) -> Any | None:
    """The poller of a source the process polls itself, or None (with a log line) if the
    record cannot be polled: one bad record must not stop the others or the start."""
    from bot.sources.telegram_public import TelegramPublicSource

    if record.platform == "rss":
        log.warning("source %s: RSS feeds are not supported yet; skipped", record.id)
        return None
    if record.platform != "telegram_public":
        return None
    conf = next((s for s in app.settings.sources if s.id == record.id), None)
    cursor = int(record.cursor) if record.cursor and record.cursor.isdigit() else None
    try:
        return TelegramPublicSource(
            record.id, record.address, interval=conf.interval if conf else 60.0,
            base_url=(conf.url if conf and conf.url else "https://t.me/s/"), cursor=cursor,
        )
    except ValueError as exc:
        log.error("source %s cannot be polled: %s", record.id, exc)
        return None


async def _poll(app: App, source: Any, stop: asyncio.Event) -> None:
    async def emit(post: Any) -> None:
        await app.ingest(post)
        if source.cursor is not None and not stop.is_set():
            app.store.set_cursor(source.source_id, str(source.cursor))
        app.source_health[source.source_id] = source.health

    app.source_health[source.source_id] = source.health
    try:
        await source.run(emit, stop)
    finally:
        await source.aclose()
        # Media-only posts move the cursor without an emit; but if the record was removed or
        # now names another channel, this channel's position means nothing there.
        current = next((r for r in app.store.sources() if r.id == source.source_id), None)
        if source.cursor is not None and current is not None and current.address == source.username:
            app.store.set_cursor(source.source_id, str(source.cursor))


class Pollers:
    """Keeps one polling task per enabled polled source, following /sources add|remove."""

    def __init__(self, app: App, stop: asyncio.Event) -> None:
        self.app = app
        self.stop = stop
        self.running: dict[str, tuple[SourceRecord, asyncio.Event, asyncio.Task[None]]] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._revision = -1

    def reconcile(self) -> None:
        revision = self.app.store.revision()
        if revision == self._revision:
            return
        self._revision = revision
        wanted = {r.id: r for r in self.app.store.sources() if r.enabled}
        for source_id, (record, own_stop, task) in list(self.running.items()):
            now = wanted.get(source_id)
            if now is None or (now.platform, now.address) != (record.platform, record.address):
                # Removed, or removed and added again with another address: stop this one.
                del self.running[source_id]
                own_stop.set()
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
                self.app.source_health.pop(source_id, None)
                log.info("source %s removed or changed: its polling stopped", source_id)
        for source_id, record in wanted.items():
            if source_id in self.running:
                continue
            poller = make_poller(self.app, record)
            if poller is None:
                continue
            own_stop = asyncio.Event()
            task = asyncio.create_task(self._run(poller, own_stop), name=f"source:{source_id}")
            self.running[source_id] = (record, own_stop, task)

    async def _run(self, poller: Any, own_stop: asyncio.Event) -> None:
        stop_any = asyncio.Event()

        async def relay_stop() -> None:
            waiters = [asyncio.ensure_future(self.stop.wait()), asyncio.ensure_future(own_stop.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            stop_any.set()

        watcher = asyncio.create_task(relay_stop())
        try:
            await _poll(self.app, poller, stop_any)
        finally:
            watcher.cancel()

    async def supervise(self, every: float = 2.0) -> None:
        """Reconcile until stopped, then wait for every poller to finish."""
        while not self.stop.is_set():
            try:
                self.reconcile()
            except Exception:
                log.exception("could not reconcile the polled sources")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), every)
        tasks = [task for _, _, task in self.running.values()] + list(self._stopping)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


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
