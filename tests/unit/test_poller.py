"""This module contains tests of the generic poller: its schedule, backoff, Retry-After and health.

The poller is driven with real asyncio and short intervals; its fetcher here is a scripted
stand-in for the `Fetcher` port (the t.me/s fetcher over loopback HTTP is tested in
test_telegram_public and tests/integration/test_sources.py).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.backoff import MAX_RETRY_AFTER, Schedule, parse_retry_after
from bot.errors import SourceError, StorageError
from bot.model import Post
from bot.ports import Batch
from bot.sources.health import HealthBoard, SourceHealth
from bot.sources.poller import EMIT_ATTEMPTS, Poller

NOW = datetime(2026, 12, 4, 18, 0, 0, tzinfo=UTC)


# Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0), ("0", 0.0), (" 7 ", 7.0), ("1.5", 1.5),
    (str(10 ** 9), MAX_RETRY_AFTER),  # a bogus header must not park a source for decades
])
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_as_a_future_http_date() -> None:
    when = format_datetime(NOW + timedelta(seconds=300), usegmt=True)  # "Fri, 04 Dec 2026 ..."
    assert parse_retry_after(when, now=NOW) == 300.0
    # RFC 850 and asctime forms are HTTP dates too.
    assert parse_retry_after("Friday, 04-Dec-26 18:01:00 GMT", now=NOW) == 60.0
    assert parse_retry_after("Fri Dec  4 18:02:00 2026", now=NOW) == 120.0


def test_retry_after_as_a_past_http_date_means_now() -> None:
    when = format_datetime(NOW - timedelta(hours=3), usegmt=True)
    assert parse_retry_after(when, now=NOW) == 0.0


def test_retry_after_against_the_real_clock() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    assert 590 < parse_retry_after(when) <= 600  # type: ignore[operator]


@pytest.mark.parametrize("header", [None, "", "  ", "soon", "-5", "1e3", "inf", "nan",
                                    "Fri, 99 Foo 2026 25:61:00 GMT", "12 parsecs",
                                    "Mon, 32 Dec 2026 00:00:00 GMT"])
def test_retry_after_garbage_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


# schedule ------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    schedule = Schedule(interval=1.0, jitter=0.0, max_backoff=10.0)
    assert [schedule.next(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert schedule.next(10_000) == 10.0  # no float overflow after a long outage


def test_retry_after_is_a_floor_that_may_pass_the_cap() -> None:
    schedule = Schedule(interval=1.0, jitter=0.0, max_backoff=10.0)
    assert schedule.next(1, retry_after=120.0) == 120.0
    assert schedule.next(3, retry_after=0.5) == 8.0  # never sooner than our own backoff


def test_jitter_stays_within_its_bounds_and_spreads() -> None:
    schedule = Schedule(interval=10.0, jitter=0.2, max_backoff=50.0)
    rng = random.Random(7)
    waits = [schedule.next(0, rng=rng) for _ in range(2000)]
    assert all(8.0 <= w <= 12.0 for w in waits)
    assert max(waits) - min(waits) > 3.5  # it really spreads, not a constant
    backoffs = [schedule.next(2, rng=rng) for _ in range(2000)]
    assert all(32.0 <= w <= 48.0 for w in backoffs)
    capped = [schedule.next(5, rng=rng) for _ in range(2000)]
    assert all(40.0 <= w <= 50.0 for w in capped)  # jittered below the cap, never above it
    firsts = [schedule.first(rng) for _ in range(2000)]
    assert all(0.0 <= w <= 2.0 for w in firsts) and max(firsts) > 1.5


def test_start_spread_can_be_a_whole_interval() -> None:
    schedule = Schedule(interval=600.0, start_spread=600.0)
    firsts = [schedule.first(random.Random(i)) for i in range(200)]
    assert all(0 <= w <= 600 for w in firsts) and max(firsts) > 500
    assert Schedule(interval=5.0, jitter=0.0).first() == 0.0


@pytest.mark.parametrize("kwargs", [{"interval": 0}, {"jitter": 1.0}, {"jitter": -0.1},
                                    {"max_backoff": 0}])
def test_a_bad_schedule_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Schedule(**kwargs)


# the poller ----------------------------------------------------------------------------------


def post(n: int) -> Post:
    return Post(source_id="feed", platform="test", chat="c", message_id=str(n), text=f"post {n}")


class Script:
    """A fetcher answering from a script: a Batch, an exception, or None (hang until cancelled).

    With the script empty it answers every post after the cursor up to `top`."""

    kind = "test"

    def __init__(self, top: int = 0) -> None:
        self.source_id = "feed"
        self.top = top
        self.script: deque[Batch | BaseException | None] = deque()
        self.calls: list[tuple[float, str | None]] = []
        self.closed = False

    async def fetch(self, cursor: str | None) -> Batch:
        self.calls.append((asyncio.get_running_loop().time(), cursor))
        if self.script:
            step = self.script.popleft()
            if step is None:
                await asyncio.Event().wait()
            if isinstance(step, BaseException):
                raise step
            assert isinstance(step, Batch)
            return step
        start = int(cursor) + 1 if cursor else 1
        return Batch([(post(n), str(n)) for n in range(start, self.top + 1)],
                     str(self.top) if self.top else cursor)

    async def aclose(self) -> None:
        self.closed = True


async def until(predicate: Callable[[], object], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


class Run:
    """`poller.run(emit, stop)` as a task, with what it emitted."""

    def __init__(self, poller: Poller, fail: Callable[[Post], BaseException | None] | None = None
                 ) -> None:
        self.poller = poller
        self.got: list[str] = []
        self.stop = asyncio.Event()
        self._fail = fail
        self.task = asyncio.create_task(poller.run(self.emit, self.stop))

    async def emit(self, item: Post) -> None:
        exc = self._fail(item) if self._fail else None
        if exc is not None:
            raise exc
        self.got.append(item.message_id)

    async def finish(self, timeout: float = 1.0) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout)


def poller(fetcher: Script, interval: float = 0.02, **kwargs: object) -> Poller:
    schedule = kwargs.pop("schedule", None) or Schedule(interval, jitter=0.0, max_backoff=0.2)
    return Poller(fetcher, schedule, **kwargs)  # type: ignore[arg-type]


async def test_polls_on_its_interval_and_emits_each_post_once() -> None:
    fetcher = Script(top=3)
    saved: list[str] = []
    run = Run(poller(fetcher, 0.03, save=saved.append))
    await until(lambda: len(fetcher.calls) >= 4)
    fetcher.top = 5
    await until(lambda: len(run.got) == 5)
    await run.finish()
    assert run.got == ["1", "2", "3", "4", "5"]
    assert saved == ["1", "2", "3", "4", "5"]  # the store hears every move of the cursor
    gaps = [b[0] - a[0] for a, b in zip(fetcher.calls, fetcher.calls[1:], strict=False)]
    assert all(g >= 0.029 for g in gaps) and min(gaps) < 0.2
    assert fetcher.closed
    status = run.poller.status()
    assert status["ok"] is True and status["posts"] == 5 and status["failures"] == 0
    assert status["last_ok"] is not None and status["last_post"] is not None


async def test_jittered_polls_stay_within_bounds() -> None:
    fetcher = Script()
    schedule = Schedule(interval=0.02, jitter=0.5, max_backoff=1.0, start_spread=0.0)
    run = Run(Poller(fetcher, schedule, rng=random.Random(3)))
    await until(lambda: len(fetcher.calls) >= 12)
    await run.finish()
    gaps = [b[0] - a[0] for a, b in zip(fetcher.calls, fetcher.calls[1:], strict=False)]
    assert all(0.0099 <= g < 0.5 for g in gaps)  # upper bound loose: a busy CI box
    assert max(gaps) - min(gaps) > 0.004  # not a fixed beat


async def test_failures_back_off_doubling_to_the_cap_then_recover() -> None:
    fetcher = Script(top=1)
    fetcher.script.extend(SourceError("HTTP 500") for _ in range(6))
    run = Run(poller(fetcher, 0.01, schedule=Schedule(0.01, jitter=0.0, max_backoff=0.08)))
    await until(lambda: run.got == ["1"])
    await run.finish()
    gaps = [b[0] - a[0] for a, b in zip(fetcher.calls, fetcher.calls[1:], strict=False)]
    # waits after failures 1..6: 0.02, 0.04, then the cap 0.08 where doubling would give
    # 0.16, 0.32, 0.64 (upper bounds are loose for a busy machine, yet below 0.32)
    wants = [0.02, 0.04, 0.08, 0.08, 0.08, 0.08]
    assert len(gaps) == len(wants)
    for gap, want in zip(gaps, wants, strict=True):
        assert want - 0.002 <= gap < want + 0.2
    status = run.poller.status()
    assert status["ok"] is True and status["failures"] == 0 and status["backoff_until"] is None
    assert status["last_error"] == "HTTP 500"  # kept for /status as the last problem seen


async def test_health_counts_consecutive_failures_and_the_next_try() -> None:
    fetcher = Script()
    fetcher.script.extend([SourceError("HTTP 503", retry_after=30.0), SourceError("timeout")])
    p = poller(fetcher, 1.0, schedule=Schedule(1.0, jitter=0.0, max_backoff=5.0))
    for failures, wait in ((1, 30.0), (2, 4.0)):
        with pytest.raises(SourceError):
            await p.poll_once()
        status = p.status()
        assert status["ok"] is False and status["failures"] == failures
        until_next = (datetime.fromisoformat(status["backoff_until"])  # type: ignore[arg-type]
                      - datetime.fromisoformat(status["last_error_at"])).total_seconds()
        assert until_next == pytest.approx(wait)
    assert await p.poll_once() == []
    assert p.status()["failures"] == 0 and p.status()["ok"] is True


async def test_retry_after_is_honoured_and_a_stop_cuts_it_short() -> None:
    fetcher = Script()
    fetcher.script.append(SourceError("HTTP 429", retry_after=3600.0))
    run = Run(poller(fetcher, 0.01))
    await until(lambda: run.poller.status()["backoff_until"] is not None)
    await asyncio.sleep(0.05)
    assert len(fetcher.calls) == 1  # no second request during the hour asked for
    await run.finish(timeout=2.0)


async def test_a_stop_cuts_a_hanging_fetch_short() -> None:
    fetcher = Script()
    fetcher.script.append(None)
    run = Run(poller(fetcher))
    await until(lambda: fetcher.calls)
    await run.finish(timeout=2.0)
    assert fetcher.closed


async def test_a_fetch_that_never_answers_times_out_as_a_failure() -> None:
    fetcher = Script(top=1)
    fetcher.script.append(None)
    run = Run(poller(fetcher, fetch_timeout=0.05))
    await until(lambda: run.got == ["1"])
    await run.finish()
    assert "no answer within 0.05s" in run.poller.status()["last_error"]  # type: ignore[operator]


async def test_an_unexpected_exception_is_a_failed_poll_not_a_dead_source() -> None:
    fetcher = Script(top=2)
    fetcher.script.append(KeyError("surprise"))
    run = Run(poller(fetcher))
    await until(lambda: run.got == ["1", "2"])
    await run.finish()
    assert "KeyError" in run.poller.status()["last_error"]  # type: ignore[operator]


async def test_a_refused_post_is_retried_without_repeating_the_others() -> None:
    fetcher = Script(top=4)
    refusals = {"2": 1}

    def fail(item: Post) -> BaseException | None:
        if refusals.get(item.message_id):
            refusals[item.message_id] -= 1
            return RuntimeError("database is locked")
        return None

    run = Run(poller(fetcher), fail)
    await until(lambda: len(run.got) == 4)
    await run.finish()
    assert run.got == ["1", "2", "3", "4"]
    assert fetcher.calls[1][1] == "1"  # the second fetch starts after the last post handed over


async def test_a_poison_post_is_skipped_after_a_few_tries() -> None:
    fetcher = Script(top=3)
    tries: list[str] = []

    def fail(item: Post) -> BaseException | None:
        if item.message_id == "2":
            tries.append(item.message_id)
            return ValueError("cannot handle this one")
        return None

    run = Run(poller(fetcher), fail)
    await until(lambda: run.got == ["1", "3"])
    await run.finish()
    assert len(tries) == EMIT_ATTEMPTS and run.poller.cursor == "3"
    status = run.poller.status()
    assert status["ok"] is True and "skipped post 2" in status["last_error"]  # type: ignore[operator]


async def test_a_full_disk_never_makes_a_post_skipped() -> None:
    fetcher = Script(top=2)
    full = {"left": EMIT_ATTEMPTS + 2}

    def fail(item: Post) -> BaseException | None:
        if item.message_id == "2" and full["left"]:
            full["left"] -= 1
            return StorageError("database or disk is full")
        return None

    run = Run(poller(fetcher, schedule=Schedule(0.005, jitter=0.0, max_backoff=0.01)), fail)
    await until(lambda: run.got == ["1", "2"])
    await run.finish()


async def test_a_cursor_the_store_cannot_save_stops_nothing() -> None:
    fetcher = Script(top=3)
    saved: list[str] = []

    def save(cursor: str) -> None:
        if cursor == "2":
            raise StorageError("database is locked")
        saved.append(cursor)

    run = Run(poller(fetcher, save=save))
    await until(lambda: len(run.got) == 3 and len(fetcher.calls) >= 3)
    await run.finish()
    assert run.got == ["1", "2", "3"] and saved == ["1", "3"] and run.poller.cursor == "3"
    status = run.poller.status()
    assert status["ok"] is True and "could not save the cursor" in status["last_error"]  # type: ignore[operator]


async def test_postless_items_move_the_cursor_and_a_restart_resumes_from_it() -> None:
    fetcher = Script()
    fetcher.script.append(Batch([(post(1), "1")], "7"))  # 2..7 had nothing to emit
    saved: list[str] = []
    p = poller(fetcher, save=saved.append)
    assert [x.message_id for x in await p.poll_once()] == ["1"]
    assert p.cursor == "7" and saved == ["1", "7"]
    fetcher.top = 9
    again = poller(fetcher, cursor=saved[-1])
    run = Run(again)
    await until(lambda: run.got == ["8", "9"])
    await run.finish()
    assert fetcher.calls[1][1] == "7" and again.cursor == "9"  # it resumed where the first left


async def test_the_servers_wait_lengthens_the_interval() -> None:
    fetcher = Script()
    fetcher.script.append(Batch([], None, wait=3600.0))  # e.g. Cache-Control: max-age=3600
    run = Run(poller(fetcher, 0.01))
    await until(lambda: fetcher.calls)
    await asyncio.sleep(0.05)
    await run.finish()
    assert len(fetcher.calls) == 1


async def test_one_failing_poller_never_stalls_another() -> None:
    bad, good = Script(), Script(top=0)
    bad.script.extend([None, *[SourceError("HTTP 500") for _ in range(50)]])
    runs = [Run(poller(bad, fetch_timeout=5.0)), Run(poller(good))]
    for top in (1, 2, 3):
        good.top = top
        await until(lambda top=top: len(runs[1].got) == top, timeout=2.0)
    assert runs[0].got == [] and runs[0].poller.status()["posts"] == 0
    for run in runs:
        await run.finish()


# health --------------------------------------------------------------------------------------


def test_chat_source_health_records_posts_and_failures() -> None:
    clock = [NOW]
    board = HealthBoard(clock=lambda: clock[0])
    health = board.recorder("osint", "discord")
    assert board["osint"]["ok"] is False and board["osint"]["posts"] == 0  # nothing seen yet
    health.seen(post(1))
    clock[0] = NOW + timedelta(minutes=5)
    board.recorder("osint", "discord").seen(post(2))  # the same recorder each time
    status = board["osint"]
    assert status["posts"] == 2 and status["ok"] is True and status["kind"] == "discord"
    assert status["last_post"] == (NOW + timedelta(minutes=5)).isoformat()
    health.failed("post 3 could not be processed")
    health.failed("post 4 could not be processed")
    assert board["osint"]["failures"] == 2 and board["osint"]["ok"] is False
    assert board["osint"]["backoff_until"] is None  # a chat source has no next try
    health.seen(post(5))
    assert board["osint"]["failures"] == 0 and board["osint"]["last_error"] is not None


def test_the_board_forgets_removed_sources_and_restarts_fresh() -> None:
    board = HealthBoard()
    old = board.open("feed", "telegram_public")
    old.seen(post(1))
    board.recorder("chat", "telegram").seen(post(1))
    new = board.open("feed", "telegram_public")  # the address changed: a fresh poller
    assert board["feed"]["posts"] == 0
    board.drop("feed", old)  # the old poller stopping late does not remove the new one
    assert "feed" in board
    board.retain(["feed"])
    assert dict(board) == {"feed": new.status()}
    assert isinstance(board.recorder("feed", "rss"), SourceHealth)  # another kind: new recorder
    assert board["feed"]["kind"] == "rss"
