"""This module contains the end-to-end tests of process roles and restart recovery.

Every process is a real `wirewatch run` child on one SQLite file, talking to the loopback fake
Bot API under its own path prefix, so the fake records which process made each call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import open_store
from tests.fakes.botapi import FakeBotApi, Sent
from tests.fakes.loopback import eventually
from tests.integration.telegram_helpers import CHANNEL, ROOM, Process, process_config

POST = "Северокорейские военные вступили в бой в Курской области, сводка №{}."


@pytest.fixture
async def api(monkeypatch) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        fake.add_chat(CHANNEL, "channel", title="Фронтовая сводка", username="frontline_ru")
        fake.add_chat(ROOM, "supergroup", title="Newsroom")
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake.token)
        yield fake


@contextlib.asynccontextmanager
async def processes(*procs: Process) -> AsyncIterator[tuple[Process, ...]]:
    try:
        await asyncio.gather(*(p.start() for p in procs))
        await eventually(lambda: all(p.running() for p in procs), "every process to run", 30)
        yield procs
    finally:
        for p in procs:
            p.kill()
        await asyncio.gather(*(p.stop() for p in procs), return_exceptions=True)


def alerts(api: FakeBotApi) -> list[Sent]:
    return [s for s in api.sent if s.method == "sendMessage" and s.chat_id == ROOM
            and "Original post" in s.plain_text]


def numbers(api: FakeBotApi) -> list[int]:
    """Which posts (by their №) the delivered alerts are of, in delivery order."""
    found = []
    for alert in alerts(api):
        tail = alert.plain_text.split("№", 1)[1]
        found.append(int(tail.split(".", 1)[0]))
    return found


async def test_one_ingest_and_two_relays_deliver_every_alert_exactly_once(api, tmp_path) -> None:
    db = tmp_path / "shared.db"
    ingest = Process(tmp_path, "ingest", process_config(api, db, "ingest", worker="ingest"),
                     role="ingest")
    relays = [Process(tmp_path, name, process_config(api, db, name, worker=name), role="relay")
              for name in ("relay-1", "relay-2")]
    count = 12
    async with processes(ingest, *relays):
        await api.wait_for_call("getUpdates")
        for i in range(count):
            api.push_channel_post(CHANNEL, POST.format(i))
            api.push_channel_post(CHANNEL, f"Погода в Москве, выпуск {i}.")  # matches nothing
        await eventually(lambda: len(alerts(api)) >= count, "every alert", 20)
        api.push_message(ROOM, 111, "/status")  # the ingest process answers commands
        await eventually(lambda: [c for c in api.calls if c.method == "sendMessage"
                                  and "Outbox:" in str(c.params.get("text"))], "/status")
        await asyncio.sleep(1.0)  # time for a duplicate to show up, if any would
        calls = list(api.calls)
        codes = [await p.stop() for p in (ingest, *relays)]
    assert sorted(numbers(api)) == list(range(count))  # each alert once, none lost
    assert codes == [0, 0, 0]
    by_client: dict[str | None, set[str]] = {}
    for call in calls:
        by_client.setdefault(call.client, set()).add(call.method)
    # Only the ingest process polls (and sets the command menu); it never sends an alert.
    assert "getUpdates" in by_client["ingest"]
    for relay in ("relay-1", "relay-2"):
        assert "getUpdates" not in by_client.get(relay, set())
        assert "setMyCommands" not in by_client.get(relay, set())
    alert_senders = {c.client for c in calls if c.method == "sendMessage"
                     and "Original post" in str(c.params.get("text", ""))}
    assert alert_senders and alert_senders <= {"relay-1", "relay-2"}
    answers = {c.client for c in calls if c.method == "sendMessage"
               and "Outbox:" in str(c.params.get("text"))}
    assert answers == {"ingest"}
    assert "getMe" in by_client["relay-1"] and "getMe" in by_client["relay-2"]


async def kill_during_send(api: FakeBotApi, *procs: Process, queued: int = 0,
                           db: Path | None = None) -> Process:
    """Alert №0 goes out; alert №1 is in flight (the fake holds the request), with `queued`
    more alerts stored behind it, when the process sending it is killed; returns that
    process."""
    api.push_channel_post(CHANNEL, POST.format(0))
    await eventually(lambda: numbers(api) == [0], "the first alert", 20)
    api.hang_next("sendMessage")
    sends = len([c for c in api.calls if c.method == "sendMessage"])
    api.push_channel_post(CHANNEL, POST.format(1))
    held = (await api.wait_for_call("sendMessage", sends + 1, timeout=20))[-1]
    for i in range(2, 2 + queued):
        api.push_channel_post(CHANNEL, POST.format(i))
    if queued:
        assert db is not None
        store = open_store(db)  # another process's view of the shared file
        try:
            await eventually(lambda: sum(store.outbox_counts().values()) == 2 + queued,
                             "the queued alerts stored", 10)
        finally:
            store.close()
    victim = next(p for p in procs if p.name == held.client)
    victim.kill()
    assert victim.proc is not None
    await victim.proc.wait()
    return victim


async def test_a_restart_after_kill_9_delivers_the_pending_alert_within_seconds(
        api, tmp_path) -> None:
    db = tmp_path / "ww.db"
    # The default lease (60 s) stands: recovery must not wait for it.
    config = process_config(api, db, "desk", lease=60)
    first = Process(tmp_path, "desk", config)
    async with processes(first):
        await kill_during_send(api, first, queued=3, db=db)  # №2..№4 wait behind №1
    assert numbers(api) == [0]  # the platform never accepted №1
    second = Process(tmp_path, "desk", config)  # the same worker identity (host:all)
    started = time.monotonic()
    async with processes(second):
        await eventually(lambda: numbers(api) == [0, 1, 2, 3, 4], "every pending alert", 10)
        recovered = time.monotonic() - started
        api.push_channel_post(CHANNEL, POST.format(5))
        await eventually(lambda: numbers(api) == list(range(6)), "a new alert after the restart")
        await asyncio.sleep(1.0)
        assert await second.stop() == 0
    assert numbers(api) == list(range(6)), "an alert was sent twice"
    assert recovered < 10, recovered
    assert "took back 1 alerts claimed by its previous run" in second.output()


async def test_a_dead_workers_claims_go_to_a_live_one_when_its_heartbeat_stops(
        api, tmp_path) -> None:
    db = tmp_path / "ww.db"
    ingest = Process(tmp_path, "ingest", process_config(api, db, "ingest", worker="ingest"),
                     role="ingest")
    relays = [Process(tmp_path, name, process_config(api, db, name, worker=name, lease=60,
                                                      stale_after=2), role="relay")
              for name in ("relay-a", "relay-b")]
    async with processes(ingest, *relays):
        victim = await kill_during_send(api, *relays)
        killed = time.monotonic()
        await eventually(lambda: numbers(api) == [0, 1], "the dead relay's alert", 10)
        taken_over = time.monotonic() - killed
        await asyncio.sleep(1.0)
        survivor = next(p for p in relays if p is not victim)
        assert await survivor.stop() == 0
    assert numbers(api) == [0, 1]
    assert 1.0 < taken_over < 10, taken_over  # once the heartbeat went stale, not the lease
    assert "claimed by a worker with no heartbeat for 2s are due again" in survivor.output()
