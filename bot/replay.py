"""This module contains `wirewatch replay`: a file of posts through the real pipeline.

Posts are stored in batches, one transaction each, so what the summary reports stored is
committed. A bad line is skipped and reported with its number; a storage failure (disk full,
locked, damaged) ends the replay with what was stored and what was not; SIGINT and SIGTERM
stop it at the next batch boundary with a summary. Without `--deliver` the matches are
counted but no alert is queued: history replayed into a store must not flood the rooms at
the next `run`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bot.bootstrap import App
from bot.errors import StorageError, WirewatchError
from bot.model import Post
from bot.platforms.console import ConsolePlatform
from bot.ports import Store
from bot.postfile import ReadReport, open_post_file, read_lines
from bot.relay import Relay
from bot.settings import Settings
from bot.storage import open_store
from bot.terminal import plain, safe

log = logging.getLogger(__name__)

BATCH = 500
SHOW_SKIPPED = 5  # skipped lines listed in the summary; --errors FILE keeps them all
EXIT_SKIPPED = 1
EXIT_STORAGE = 1


def read_posts(path: str | Path, errors: list[str]) -> Iterator[Post]:
    """The posts of a post file; a line that is not one is appended to `errors`."""
    report = ReadReport()
    handle, name = open_post_file(path)
    try:
        for _, post in read_lines(handle, name, report):
            yield post
    finally:
        errors.extend(report.messages() + ([report.damage] if report.damage else []))


class _Stop(Exception):
    """A signal arrived while reading: stop reading, store what was read."""


class _Signals:
    """SIGINT/SIGTERM during a replay. One arriving while a batch is stored lets it finish
    (the replay stops at the batch boundary); one arriving while the input is read stops the
    reading at once (what was read is still stored: reading stdin may wait forever). A second
    SIGINT stops right away, rolling back the open batch."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.reading = False
        self.on_signal: Callable[[], None] | None = None  # e.g. cancel the delivery
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._old[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, old in self._old.items():
            signal.signal(signum, old)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        if self.on_signal is not None:
            self.on_signal()
        if self.reading:
            self.reading = False
            raise _Stop


@dataclass
class _Tally:
    posts: int = 0
    alerts: int = 0
    joined: int = 0  # matches that joined a story the room had already (no new alert)
    last_line: int = 0  # the last input line whose post is stored
    by_room: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)
    by_entity: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[int, str]] = field(default_factory=list)  # posts the pipeline refused

    def add(self, other: _Tally) -> None:
        self.posts += other.posts
        self.alerts += other.alerts
        self.joined += other.joined
        self.last_line = max(self.last_line, other.last_line)
        for mine, theirs in ((self.by_room, other.by_room), (self.by_topic, other.by_topic),
                             (self.by_entity, other.by_entity)):
            mine.update(theirs)
        self.failed.extend(other.failed)


def _store_batch(app: App, batch: list[tuple[int, Post]], deliver: bool) -> _Tally:
    """Process and commit one batch; raises StorageError (the batch rolled back) if the
    store fails."""
    tally = _Tally()
    app.pipeline.refresh()
    with app.store.transaction():
        for lineno, post in batch:
            try:
                outcome = app.pipeline.process(post, enqueue=deliver)
            except StorageError:
                raise
            except Exception as exc:  # a bug must not end the replay or lose the batch
                log.debug("could not process line %d", lineno, exc_info=True)
                tally.failed.append((lineno, f"could not be processed ({type(exc).__name__}; "
                                             "run with -v for details)"))
                continue
            tally.posts += 1
            tally.last_line = lineno
            tally.by_topic.update(outcome.analysis.topics)
            tally.by_entity.update(outcome.analysis.entity_ids)
            tally.by_room.update(outcome.rooms)
            tally.alerts += len(outcome.rooms)
            tally.joined += len(outcome.joined)
    return tally


async def _deliver(relay: Relay, signals: _Signals) -> None:
    """Deliver what the replay queued; a signal stops it (what is left stays queued, and an
    alert cut off mid-send keeps its lease, so the next `run` sends it, once)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(relay.drain())
    signals.on_signal = lambda: loop.call_soon_threadsafe(task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if signals.received is None:
            raise
    finally:
        signals.on_signal = None


def _storage_reason(exc: BaseException) -> str:
    """What went wrong in the store, as the store said it (`StorageError` is plain words)."""
    return safe(str(exc))


async def replay(settings: Settings, file: str, *, deliver: bool = False, limit: int | None = None,
                 in_memory: bool = False, errors_file: str | None = None, store: Store | None = None,
                 console: Console | None = None, out: Console | None = None) -> int:
    """Replay `file` (`-` is stdin) into `store` (default: the configured one, or a store in
    memory with `in_memory`). Returns the exit code: 0 clean, 1 lines skipped or the store
    failed, 128 + the signal's number when interrupted."""
    # Messages are not wrapped: they name paths and lines that must stay whole to be found.
    console = console or Console(stderr=True, highlight=False, soft_wrap=True)
    out = out or Console(highlight=False, soft_wrap=True)
    if limit is not None and limit <= 0:
        raise WirewatchError(f"--limit must be at least 1 (got {limit})")
    handle, name = open_post_file(file)  # before the store: a wrong path changes nothing
    report = ReadReport()
    stream = read_lines(handle, name, report)
    with _Signals() as signals:
        try:
            if store is None and in_memory:
                store = open_store(settings.storage, in_memory=True)
            app = App.open(settings, store=store)
        except BaseException:
            stream.close()
            raise
        tally = _Tally()
        storage_error: str | None = None
        unstored = 0  # posts read but not stored because the store failed
        delivering = False  # True if a signal stopped the delivery after the replay
        started = time.perf_counter()
        try:
            if deliver:
                app.attach({"console": ConsolePlatform(app.engine.renderer)})
            with Progress(TextColumn("replay"), BarColumn(), TextColumn("{task.completed} posts"),
                          TimeElapsedColumn(), console=console, transient=True) as progress:
                task = progress.add_task("replay", total=None)
                read, done = 0, False
                while not done and signals.received is None:
                    batch: list[tuple[int, Post]] = []
                    try:
                        signals.reading = True
                        if signals.received is not None:  # arrived just before: do not wait
                            raise _Stop
                        for item in stream:
                            batch.append(item)
                            read += 1
                            if len(batch) >= BATCH or (limit is not None and read >= limit):
                                break
                        else:
                            done = True
                    except _Stop:
                        done = True
                    finally:
                        signals.reading = False
                    done = done or (limit is not None and read >= limit)
                    if batch:
                        try:
                            tally.add(_store_batch(app, batch, deliver))
                        except StorageError as exc:
                            storage_error, unstored = _storage_reason(exc), len(batch)
                            break
                    progress.update(task, completed=tally.posts)
                stream.close()
            elapsed = time.perf_counter() - started
            if deliver and app.relay is not None and storage_error is None \
                    and signals.received is None:
                delivering = True
                await _deliver(app.relay, signals)
                delivering = signals.received is not None
        finally:
            try:
                await app.aclose()
            except StorageError as exc:  # the failure was reported already
                log.debug("closing the store failed: %s", exc)
    _summary(out, console, tally, report, elapsed, deliver=deliver, in_memory=in_memory,
             errors_file=errors_file)
    stored = (f"{tally.posts} posts, input lines 1–{tally.last_line}" if tally.posts else
              "no posts")
    if storage_error is not None:
        console.print(plain(
            f"error: the store failed: {storage_error}\n"
            f"  stored: {stored} (committed, safe)\n"
            f"  not stored: the {unstored} posts read after line {tally.last_line}"
            f" and everything after them\n"
            f"  Fix the cause and replay the file again: posts already stored are "
            f"recognised and not stored or alerted twice.", style="red"))
    if signals.received is not None:
        what = signal.Signals(signals.received).name
        if delivering:
            console.print(plain(
                f"interrupted ({what}) while delivering: {app.relay.delivered if app.relay else 0}"
                f" alerts delivered; the others stay queued for the next `wirewatch run`.",
                style="yellow"))
        else:
            console.print(plain(
                f"interrupted ({what}): stored {stored}; nothing after line {tally.last_line} "
                f"of {name} was stored. Replaying the file again is safe: posts already stored "
                f"are recognised.", style="yellow"))
        return 128 + signals.received
    if storage_error is not None:
        return EXIT_STORAGE
    return EXIT_SKIPPED if report.skipped or tally.failed or report.damage else 0


def _summary(out: Console, console: Console, tally: _Tally, report: ReadReport, elapsed: float,
             *, deliver: bool, in_memory: bool, errors_file: str | None) -> None:
    skipped = sorted(report.skipped + tally.failed)
    head = Text()
    head.append(str(tally.posts), style="bold")
    head.append(f" posts in {elapsed:.1f}s ({tally.posts / max(elapsed, 1e-9):,.0f} posts/s, "
                f"with storage); {tally.alerts} alerts; {len(skipped)} bad lines")
    out.print(head)
    if tally.joined:
        out.print(plain(f"stories: {tally.joined} more reports joined a story their room was "
                        f"alerted to already (no new alert: \"+N sources\" on the first)"))
    for title, counter in (("alerts by room", tally.by_room), ("posts by topic", tally.by_topic),
                           ("posts by entity", tally.by_entity)):
        if not counter:
            out.print(plain(f"{title}: none"))
            continue
        table = Table(title=title, title_justify="left")
        table.add_column(title.split()[-1])
        table.add_column("count", justify="right")
        for key, count in counter.most_common(25):
            table.add_row(plain(key), str(count))
        out.print(table)
    if tally.alerts and not deliver:
        out.print(plain("alerts were not delivered (use --deliver)"))
    if in_memory:
        out.print(plain("not stored: no --config given; a following search will not find "
                        "these posts"))
    lines = [f"line {lineno}: {reason}" for lineno, reason in skipped]
    for line in lines[:SHOW_SKIPPED]:
        console.print(plain(f"skipped {line}", style="yellow"))
    if len(lines) > SHOW_SKIPPED:
        more = f"and {len(lines) - SHOW_SKIPPED} more"
        console.print(plain(f"{more} (written to {errors_file})" if errors_file else
                            f"{more} (--errors FILE keeps them all)", style="yellow"))
    if report.damage:
        console.print(plain(report.damage + f"; {tally.posts} posts before it are stored",
                            style="red"))
    if errors_file:
        text = "".join(f"{line}\n" for line in lines + ([report.damage] if report.damage else []))
        try:
            Path(errors_file).write_text(text, encoding="utf-8")
        except OSError as exc:
            console.print(plain(f"error: cannot write {errors_file}: {exc.strerror}", style="red"))
