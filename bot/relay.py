"""This module contains the relay: it drains the outbox into the platforms.

Delivery is at-least-once per claim and exactly-once in effect: an alert is marked sent only
after the platform answered, a worker holds a lease on what it sends, and an alert left in
'sending' by a dead worker is claimed again when that worker's heartbeat goes stale (or, for
a worker without one, when the lease expires). The one window left open is a crash between
the platform's answer and `mark_sent`; it is as short as one SQL statement.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from collections.abc import Mapping

from bot.errors import DeliveryError, StorageError, TranslationUnavailable
from bot.model import Alert, Room
from bot.ports import OutboxItem, Platform, Store, Translator

log = logging.getLogger(__name__)

UNAVAILABLE = "translation unavailable"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(attempts: int, base: float = 2.0, cap: float = 300.0) -> float:
    return min(cap, base * 2 ** max(0, attempts - 1))


class Relay:
    """Claims due alerts, translates them within a bounded wait, sends, records the result."""

    def __init__(
        self,
        store: Store,
        platforms: Mapping[str, Platform],
        translator: Translator | None = None,
        *,
        worker: str | None = None,
        alert_wait: float = 5.0,
        lease: float = 120.0,
        max_attempts: int = 10,
        stale_after: float | None = None,
    ) -> None:
        self.store = store
        self.platforms = platforms
        self.translator = translator
        self.worker = worker or worker_name()
        self.alert_wait = alert_wait
        self.lease = lease
        self.max_attempts = max_attempts
        self.stale_after = stale_after  # take over claims of workers silent this long
        self._last_takeover = 0.0
        self._storage_failing = False
        self._unrecorded: dict[int, tuple[str | None, bool]] = {}  # sent, not yet marked sent
        self._late: set[asyncio.Task[None]] = set()
        self._unstarted: set[int] = set()  # claimed, not yet handed to a platform
        self._stop: asyncio.Event | None = None
        self.wake = asyncio.Event()
        self.delivered = 0

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Deliver until `stop` is set; a new alert sets `wake` to skip the idle wait.

        Once `stop` is set, the alert being sent is finished (the platform may already have
        it, so cutting it off could send it twice) and the rest of the round is handed back."""
        self._stop = stop
        while not stop.is_set():
            try:
                done = await self.deliver_due()
                done += await self.apply_updates()
                if self._storage_failing:
                    log.warning("relay: the store answers again")
                    self._storage_failing = False
            except StorageError as exc:  # disk full, locked: said once, retried each round
                if not self._storage_failing:
                    log.error("relay: the store cannot record deliveries (%s); retrying", exc)
                self._storage_failing = True
                done = 0
            except Exception:  # the relay must outlive any single bad alert or store hiccup
                log.exception("relay round failed")
                done = 0
            if done == 0:
                self.wake.clear()
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
                await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()

    def take_over_dead_workers(self) -> int:
        """Make the claims of workers whose heartbeat is stale due again (once a second)."""
        loop = asyncio.get_running_loop()
        if self.stale_after is None or loop.time() - self._last_takeover < 1.0:
            return 0
        self._last_takeover = loop.time()
        taken = self.store.expire_stale_claims(self.stale_after)
        if taken:
            log.warning("relay: %d alerts claimed by a worker with no heartbeat for %gs are "
                        "due again", taken, self.stale_after)
        return taken

    async def deliver_due(self, limit: int = 20) -> int:
        self._record_unrecorded()  # first: nothing new while the store cannot record
        self.take_over_dead_workers()
        items = self.store.claim_alerts(self.worker, limit=limit, lease=self.lease)
        if not items:
            return 0
        self._unstarted.update(i.alert.id for i in items if i.alert.id is not None)
        # Rooms deliver in parallel; alerts to one room keep their order.
        by_room: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_room.setdefault(item.alert.room_id, []).append(item)
        await asyncio.gather(*(self._deliver_room(batch) for batch in by_room.values()))
        return len(items)

    async def apply_updates(self, limit: int = 20) -> int:
        """Edit sent alerts in place whose post was edited since (a correction, new figures)."""
        items = self.store.take_updates(limit)
        for i, item in enumerate(items):
            if self._stop is not None and self._stop.is_set():
                # Not tried: flag them again for the next start rather than lose them.
                self.store.flag_updates([r.alert.id for r in items[i:] if r.alert.id is not None])
                return i
            alert = item.alert
            room = self.store.get_room(alert.room_id)
            platform = self.platforms.get(room.platform) if room else None
            if room is None or platform is None or item.remote_ref is None:
                continue
            alert, pending = await self._translate(alert, room)
            try:
                await platform.edit(room, item.remote_ref, alert)
            except Exception as exc:  # the sent alert still stands; only the correction is lost
                log.warning("could not edit alert %s after its post was edited: %s", alert.id, exc)
                if pending:
                    pending.cancel()
                continue
            assert alert.id is not None
            if alert.translation:
                self.store.mark_translated(alert.id, alert.translation, of_text=alert.post.text)
            if pending is not None:
                self._edit_when_translated(platform, room, item.remote_ref, alert, pending)
        return len(items)

    async def drain(self, timeout: float = 60.0) -> None:
        """Deliver until nothing is due (for the demo and replays), then wait for late edits."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end and (await self.deliver_due() or await self.apply_updates()):
            pass
        await self.settle(max(0.0, end - loop.time()))

    async def settle(self, timeout: float) -> None:
        """Wait for late translations to be edited in (bounded)."""
        if self._late:
            await asyncio.wait(set(self._late), timeout=timeout)

    async def _deliver_room(self, items: list[OutboxItem]) -> None:
        for i, item in enumerate(items):
            if self._stop is not None and self._stop.is_set():
                self._hand_back(items[i:], 0.0)  # shutting down: the next start sends these
                return
            wait = await self._deliver(item)
            if wait is not None:
                # The room is rate-limited: the rest wait too, in order, instead of each
                # hitting the limit again.
                self._hand_back(items[i + 1:], wait)
                return

    def _hand_back(self, items: list[OutboxItem], delay: float) -> None:
        ids = [r.alert.id for r in items if r.alert.id is not None]
        self._unstarted.difference_update(ids)
        self.store.release_claims(self.worker, ids, delay=delay)

    async def _deliver(self, item: OutboxItem) -> float | None:
        """Send one alert; returns the platform's retry-after if it rate-limited the room."""
        alert = item.alert
        assert alert.id is not None
        self._unstarted.discard(alert.id)
        # The lease was taken for the whole round; renew it now that this alert's turn has
        # come, so another worker cannot take it while it is being sent. Lost it: skip.
        if not self.store.renew_claim(alert.id, self.worker, self.lease):
            log.warning("alert %s: lease lost to another worker before sending; skipped", alert.id)
            return None
        room = self.store.get_room(alert.room_id)
        if room is None:
            self.store.mark_failed(alert.id, self.worker, "room no longer exists")
            return None
        platform = self.platforms.get(room.platform)
        if platform is None:
            # Not lost: the platform may be configured on another worker or after a restart.
            self.store.mark_retry(alert.id, self.worker, f"platform {room.platform} not running", 60)
            return None
        alert, pending = await self._translate(alert, room)
        try:
            ref = await platform.send(room, alert)
        except DeliveryError as exc:
            self._failed(item, str(exc), exc.retry_after, exc.permanent)
            if pending:
                pending.cancel()
            return exc.retry_after
        except Exception as exc:  # an adapter bug must not lose the alert: retry later
            log.exception("sending alert %s to %s failed", alert.id, room.id)
            self._failed(item, f"{type(exc).__name__}: {exc}", None, False)
            if pending:
                pending.cancel()
            return None
        self._record_sent(alert.id, ref, alert.translation is not None)
        self.delivered += 1
        if pending is not None and ref is not None:
            self._edit_when_translated(platform, room, ref, alert, pending)
        return None

    def _record_sent(self, alert_id: int, ref: str | None, translated: bool) -> None:
        """Mark a sent alert sent; if the store cannot write, keep it in memory and retry each
        round (our lease and heartbeat stand meanwhile), so it is never sent again."""
        try:
            recorded = self.store.mark_sent(alert_id, self.worker, ref, translated=translated)
        except StorageError as exc:
            if not self._unrecorded:
                log.error("alert %s was sent but the store cannot record it (%s); retrying",
                          alert_id, exc)
            self._unrecorded[alert_id] = (ref, translated)
            return
        self._unrecorded.pop(alert_id, None)
        if not recorded:
            log.error("alert %s was sent but its lease had passed to another worker", alert_id)

    def _record_unrecorded(self) -> None:
        for alert_id, (ref, translated) in list(self._unrecorded.items()):
            self._record_sent(alert_id, ref, translated)
            if alert_id in self._unrecorded:
                raise StorageError("sent alerts still unrecorded")

    def _edit_when_translated(self, platform: Platform, room: Room, ref: str, alert: Alert,
                              pending: asyncio.Task) -> None:
        """Edit the sent message once its late translation arrives (tracked for aclose)."""
        task = asyncio.create_task(self._edit_late(platform, room, ref, alert, pending))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    def _failed(self, item: OutboxItem, error: str, retry_after: float | None, permanent: bool) -> None:
        alert_id = item.alert.id
        assert alert_id is not None
        if permanent or item.attempts >= self.max_attempts:
            log.error("alert %s failed for good: %s", alert_id, error)
            self.store.mark_failed(alert_id, self.worker, error)
        else:
            delay = retry_after if retry_after is not None else backoff(item.attempts)
            log.warning("alert %s will be retried in %.1fs: %s", alert_id, delay, error)
            self.store.mark_retry(alert_id, self.worker, error, delay)

    async def _translate(self, alert: Alert, room: Room) -> tuple[Alert, asyncio.Task | None]:
        """Translate within the alert's wait; returns the alert and a task if still running."""
        source = alert.analysis.lang
        if alert.translation is not None or not room.language or source == room.language:
            return alert, None
        if self.translator is None:
            return dataclasses.replace(alert, translation_note=f"{UNAVAILABLE}: no translator"), None
        try:
            result, task, reason = await self.translator.translate_within(
                alert.post.text, source, room.language, self.alert_wait
            )
        except Exception as exc:  # the translator promises not to raise; be safe anyway
            log.exception("translator failed")
            result, task, reason = None, None, str(exc)
        if result is not None:
            if result.provider == "none":  # same language after all
                return alert, None
            return dataclasses.replace(alert, translation=result.text), None
        if reason and reason.startswith("translation"):  # already a whole sentence for editors
            note = reason
        else:
            note = UNAVAILABLE + (f" ({reason})" if reason else " (still working, will edit)")
        return dataclasses.replace(alert, translation_note=note), task

    async def _edit_late(self, platform: Platform, room: Room, ref: str, alert: Alert,
                         pending: asyncio.Task) -> None:
        try:
            result = await pending
        except (TranslationUnavailable, asyncio.CancelledError):
            return
        except Exception:
            log.exception("late translation failed")
            return
        assert alert.id is not None
        # Record it first, and only if the post was not edited meanwhile: then the message
        # shows (or will be edited to) the new text, and this translation is of the old one.
        if not self.store.mark_translated(alert.id, result.text, of_text=alert.post.text):
            return
        updated = dataclasses.replace(alert, translation=result.text, translation_note=None)
        try:
            await platform.edit(room, ref, updated)
        except Exception:
            log.warning("could not edit alert %s with its late translation", alert.id, exc_info=True)

    async def aclose(self) -> None:
        """Hand back claimed alerts not yet started, so a restart sends them at once; an alert
        cut off mid-send keeps its lease (the platform may have it) and is retried after it."""
        try:
            self._record_unrecorded()
        except StorageError:
            log.error("stopping with sent alerts %s not recorded as sent (the store cannot "
                      "write): they will be sent again", sorted(self._unrecorded))
        if self._unstarted:
            self.store.release_claims(self.worker, sorted(self._unstarted))
            self._unstarted.clear()
        for task in list(self._late):
            task.cancel()
        if self._late:
            await asyncio.gather(*self._late, return_exceptions=True)
