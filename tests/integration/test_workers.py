"""This module contains the tests of worker heartbeats on the real store: whose claims are
taken over, and when a worker name counts as taken. They run once per engine of the store
contract suite, through the Store port only."""

from __future__ import annotations

import os
import socket
import time

import pytest

from bot.model import Alert, Analysis, Post, Room
from bot.ports import Store, WorkerRecord
from bot.workers import Heartbeat, is_alive
from tests.integration.test_store_contract import ENGINES


@pytest.fixture(params=sorted(ENGINES))
def store(request, tmp_path):
    s = ENGINES[request.param](tmp_path).open()
    s.upsert_room(Room("desk", "console", "desk", None, "en"))
    yield s
    s.close()


def claim_one(store: Store, worker: str, mid: str) -> int:
    post = Post("src", "telegram", "-1", mid, f"text {mid}")
    alert_id = store.enqueue_alert(Alert(post, "desk", "s", Analysis()))
    assert alert_id is not None
    claimed = store.claim_alerts(worker, lease=600)
    assert [i.alert.id for i in claimed] == [alert_id]
    return alert_id


def test_only_stale_workers_lose_their_claims(store) -> None:
    store.worker_beat(WorkerRecord("dead", "i1", "relay", "elsewhere", 1))
    dead, alive, legacy = (claim_one(store, w, m) for w, m in
                           (("dead", "1"), ("alive", "2"), ("no-heartbeat", "3")))
    time.sleep(0.3)  # "dead" beats no more
    store.worker_beat(WorkerRecord("alive", "i2", "relay", "elsewhere", 2))
    assert store.expire_stale_claims(0.2) == 1
    # Another worker now claims the dead one's alert, and only that one.
    assert [i.alert.id for i in store.claim_alerts("taker", lease=60)] == [dead]
    assert store.expire_stale_claims(0.2) == 0  # the taker has no row, but its claim is fresh
    assert {alive, legacy}.isdisjoint(i.alert.id for i in store.claim_alerts("other"))


def test_a_restart_under_the_same_name_takes_back_its_claims(store) -> None:
    store.worker_beat(WorkerRecord("desk:relay", "before", "relay", socket.gethostname(),
                                   os.getpid()))  # our own pid: a restarted container
    alert_id = claim_one(store, "desk:relay", "1")
    beat = Heartbeat(store, "desk:relay", "relay", stale_after=5)
    try:
        assert beat.start() == "desk:relay" and beat.reclaimed == 1
        assert [i.alert.id for i in store.claim_alerts("desk:relay")] == [alert_id]
        assert store.get_worker("desk:relay").instance == beat.instance
    finally:
        beat.stop()
    assert store.get_worker("desk:relay") is None  # a clean stop leaves no row


def test_a_name_held_by_a_live_process_is_not_taken(store) -> None:
    store.worker_beat(WorkerRecord("desk:relay", "other", "relay", "another-host", 4242))
    alert_id = claim_one(store, "desk:relay", "1")
    beat = Heartbeat(store, "desk:relay", "relay", stale_after=5)
    try:
        assert beat.start() == f"desk:relay:{os.getpid()}" and beat.reclaimed == 0
        assert store.claim_alerts(beat.name) == []  # the live holder keeps its alert
    finally:
        beat.stop()
    assert store.get_worker("desk:relay").instance == "other"
    assert alert_id


def test_liveness() -> None:
    now = time.time()
    here = socket.gethostname()
    assert not is_alive(WorkerRecord("a", "i", "all", here, os.getpid(), beat=now), 5, now)
    assert is_alive(WorkerRecord("a", "i", "all", here, os.getppid(), beat=now), 5, now)
    assert not is_alive(WorkerRecord("a", "i", "all", "far", 1, beat=now - 6), 5, now)
    assert is_alive(WorkerRecord("a", "i", "all", "far", 1, beat=now - 1), 5, now)
