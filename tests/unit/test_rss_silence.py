"""This module contains tests of the silence watch: usual gaps, silent and failing sources,
each change said once, and which rooms follow a source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.model import Post, Room
from bot.sources.health import HealthBoard
from bot.sources.silence import FAILING, OK, SILENT, SilenceWatch, followers, notice_alert

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def post(n: int) -> Post:
    return Post(source_id="wire", platform="rss", chat="wire", message_id=str(n), text="x")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_source_silent_past_four_usual_gaps_and_an_hour_is_said_once_then_its_return() -> None:
    clock = Clock()
    board = HealthBoard(clock=clock)
    watch = SilenceWatch(clock=clock)
    health = board.recorder("wire", "rss")
    for _ in range(8):  # a post every 10 minutes
        health.seen(post(1))
        assert watch.check(board) == []
        clock.now += timedelta(minutes=10)
    assert watch.usual_gap("wire") == 600.0
    clock.now += timedelta(minutes=40)  # 50 min quiet: over 4 × 10 min, but under an hour
    assert watch.check(board) == [] and watch.flags() == {}
    clock.now += timedelta(minutes=15)
    (change,) = watch.check(board)
    assert change.state == SILENT and "usually every 10m" in change.detail
    assert "silent" in watch.flags()["wire"]
    clock.now += timedelta(hours=3)
    assert watch.check(board) == []  # said once, not every check
    health.seen(post(2))
    (back,) = watch.check(board)
    assert back.state == OK and "is back" in back.notice() and watch.flags() == {}


def test_a_source_without_enough_history_is_never_called_silent() -> None:
    clock = Clock()
    board = HealthBoard(clock=clock)
    watch = SilenceWatch(clock=clock)
    board.recorder("new", "rss").seen(post(1))
    watch.check(board)
    clock.now += timedelta(days=3)
    assert watch.check(board, ["new", "chat"]) == [] and watch.usual_gap("new") is None


def test_failing_after_three_failures_then_recovered() -> None:
    clock = Clock()
    board = HealthBoard(clock=clock)
    watch = SilenceWatch(clock=clock)
    health = board.recorder("feed", "rss")
    for n in range(2):
        health.failed("HTTP 500")
        assert watch.check(board) == [], n
    health.failed("HTTP 500")
    (change,) = watch.check(board)
    assert change.state == FAILING and "HTTP 500" in change.detail
    health.failed("HTTP 500")
    assert watch.check(board) == []
    health.succeeded()
    assert [c.state for c in watch.check(board)] == [OK]


def test_history_from_the_store_survives_a_restart() -> None:
    clock = Clock()
    watch = SilenceWatch(clock=clock)
    for n in range(10):
        watch.observe("chat", T0 - timedelta(hours=10) + timedelta(minutes=30 * n))
    clock.now = T0  # last post 5.5 h ago, usually every 30 min
    (change,) = watch.check(HealthBoard(clock=clock), ["chat"])
    assert change.source_id == "chat" and change.state == SILENT


def test_rooms_follow_a_source_they_name_or_else_all_rooms_do() -> None:
    rooms = [Room("desk", "telegram", "1"), Room("ops", "discord", "2")]
    queries = {"desk": ["kursk AND source:wire"], "ops": ["entity:kursk"]}
    assert [r.id for r in followers("wire", rooms, queries)] == ["desk"]
    assert [r.id for r in followers("WIRE", rooms, queries)] == ["desk"]
    assert [r.id for r in followers("other", rooms, queries)] == ["desk", "ops"]
    assert [r.id for r in followers("wire", rooms, {"ops": ["nosource:wire"]})] == ["desk", "ops"]


def test_a_notice_is_an_alert_a_platform_can_send() -> None:
    watch = SilenceWatch()
    board = HealthBoard()
    for _ in range(3):
        board.recorder("wire", "rss").failed("malformed feed")
    (change,) = watch.check(board)
    alert = notice_alert(change, Room("desk", "telegram", "1"))
    assert alert.room_id == "desk" and "Source wire is failing" in alert.post.text


async def test_a_notice_said_before_a_restart_is_not_said_again_and_a_return_once(tmp_path) -> None:
    import asyncio
    from types import SimpleNamespace

    from bot.sources.silence import Change
    from bot.sources.supervisor import Pollers
    from bot.storage import open_store

    store = open_store(tmp_path / "s.db")
    try:
        before = Pollers(SimpleNamespace(store=store, platforms={}), asyncio.Event())
        await before.announce([Change("wire", FAILING, "3 failed polls in a row (HTTP 500)"),
                               Change("quiet", SILENT, "nothing for 5h, usually every 10m")])
        # The process restarts: poll counters and the board start empty.
        clock = Clock()
        board = HealthBoard(clock=clock)
        watch = SilenceWatch(clock=clock)
        watch.restore(store)
        health = board.recorder("wire", "rss")
        assert watch.check(board, ["wire", "quiet"]) == []  # nothing said again
        assert set(watch.flags()) == {"wire", "quiet"}
        health.failed("HTTP 500")
        assert watch.check(board, ["wire", "quiet"]) == []  # one failure since: not back
        health.succeeded()
        (back,) = watch.check(board, ["wire", "quiet"])
        assert back.source_id == "wire" and back.state == OK
        assert watch.check(board, ["wire", "quiet"]) == []
        board.recorder("quiet", "rss").seen(post(3))  # the silent one posts again
        (back,) = watch.check(board, ["wire", "quiet"])
        assert back.source_id == "quiet" and back.state == OK and watch.flags() == {}
    finally:
        store.close()
