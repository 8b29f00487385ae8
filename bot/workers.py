"""This module contains worker identity and heartbeats, for restart recovery in seconds.

Every `wirewatch run` process is a worker with a stable name (`delivery.worker`, default
host:role) under which it claims alerts. A thread refreshes its heartbeat in the store every
second, independent of the event loop, so a busy loop never looks dead. Relays take over the
claims of a worker whose heartbeat is older than `delivery.stale_after` seconds; and a worker
that starts under the name of a dead predecessor (a restart after `kill -9`) takes back its
claims at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from bot.errors import StorageError
from bot.ports import Store, WorkerRecord

log = logging.getLogger(__name__)


def default_name(role: str) -> str:
    return f"{socket.gethostname()}:{role}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def is_alive(record: WorkerRecord, stale_after: float, now: float | None = None) -> bool:
    """Whether the process behind `record` still runs: its heartbeat is fresh and, on this
    host, its pid exists and is not ours (a restarted container reuses pids)."""
    now = time.time() if now is None else now
    if now - record.beat >= stale_after:
        return False
    if record.host != socket.gethostname():
        return True
    return record.pid != os.getpid() and _pid_alive(record.pid)


class Heartbeat:
    """Registers this process as a worker and keeps its heartbeat fresh until `stop`."""

    def __init__(self, store: Store, name: str, role: str, *, stale_after: float = 5.0) -> None:
        self.store = store
        self.role = role
        self.stale_after = stale_after
        self.every = max(0.2, min(1.0, stale_after / 4))
        self.instance = uuid.uuid4().hex
        self.name = name
        self.reclaimed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self) -> WorkerRecord:
        return WorkerRecord(self.name, self.instance, self.role, socket.gethostname(), os.getpid())

    def start(self) -> str:
        """Take the worker name (or, if a live process holds it, name:pid) and start beating.
        Returns the name to claim alerts under."""
        previous = self.store.get_worker(self.name)
        if previous is not None and previous.instance != self.instance and \
                is_alive(previous, self.stale_after):
            taken = self.name
            self.name = f"{self.name}:{os.getpid()}"
            log.warning("worker name %s is in use by a running process (pid %d on %s); this one "
                        "works as %s (set delivery.worker to name each process)",
                        taken, previous.pid, previous.host, self.name)
        try:
            self.store.worker_beat(self.record())
            # Our name's claims are a dead predecessor's: sent by nobody now, due at once.
            self.reclaimed = self.store.expire_claims_of(self.name)
        except StorageError as exc:  # a full disk must not stop the start; the thread retries
            log.warning("worker %s: heartbeat not written: %s", self.name, exc)
        if self.reclaimed:
            log.info("worker %s: took back %d alerts claimed by its previous run",
                     self.name, self.reclaimed)
        self._thread = threading.Thread(target=self._beat, name="wirewatch-heartbeat",
                                        daemon=True)
        self._thread.start()
        return self.name

    def _beat(self) -> None:
        failing = False
        while not self._stop.wait(self.every):
            try:
                self.store.worker_beat(self.record())
            except Exception as exc:  # disk full, locked: keep trying, say it once
                if not failing:
                    log.warning("worker %s: heartbeat not written: %s", self.name, exc)
                failing = True
            else:
                failing = False

    def stop(self) -> None:
        """Stop beating and remove the row: a clean stop leaves nothing to take over early
        (an alert cut off mid-send keeps its lease: the platform may have it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self.store.forget_worker(self.name, self.instance)
        except Exception as exc:
            log.warning("worker %s: could not remove its heartbeat: %s", self.name, exc)
