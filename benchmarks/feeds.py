"""Ten thousand feeds on one core: CPU share, peak memory, poll lateness and parse cost.

Usage: python benchmarks/feeds.py [--feeds N] [--interval S] [--rounds R] [--change F]
                                  [--hosts H] [--store] [--parse-only]

A loopback server in a separate process (so its CPU is not counted) serves N RSS 2.0 feeds of
20 realistic items (title, link, guid, pubDate, author, ~600 characters of HTML description,
~16 kB a document) from H hosts (127.0.0.1 .. 127.0.0.H, each a host to the per-host limit).
Each feed answers 304 to its ETag unless it changed: a share F of the feeds gets one new item
per interval. The client is wirewatch's own: `FeedFetcher` (feedparser-rs, selectolax) with
the supervisor's shared client, per-host limiter and feed schedule (first polls spread over an
interval, ±10 % jitter), run by the generic `Poller`, saving cursors into a real SQLite store
with `--store`. Reported for the client process: CPU share of one core, peak RSS, polls,
items emitted, and lateness (how much later than the schedule allowed a poll started) p50/p99.

The real interval is 10 minutes; `--interval 60` runs ten times the request rate of the real
load, so its CPU share is ten times the real one (the figure printed as "at 600 s").

Parse cost: the same generated documents through each candidate parser: feedparser,
feedparser-rs, fastfeedparser, and wirewatch's whole `parse_feed` (feedparser-rs + HTML
stripping + identity).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.model import Post  # noqa: E402
from bot.ports import Batch, SourceRecord  # noqa: E402
from bot.sources.poller import Poller  # noqa: E402
from bot.sources.rss import FeedFetcher  # noqa: E402
from bot.sources.supervisor import _rss_schedule, close_feed_pool, feed_pool  # noqa: E402

WORDS = ("troops border region governor statement ministry talks sanctions drone attack "
         "shelling village officials reported said Friday overnight defence energy grid "
         "ceasefire delegation summit ports grain exports convoy humanitarian aid").split()
T0 = datetime(2026, 12, 4, tzinfo=UTC)


def document(feed: int, version: int, size: int = 20) -> bytes:
    """Feed `feed` at `version`: items version+1 .. version+size, newest first."""
    rng = random.Random(feed)
    site = f"https://outlet{feed}.example"
    items = []
    for n in range(version + size, version, -1):
        r = random.Random(feed * 100_003 + n)
        title = " ".join(r.choice(WORDS) for _ in range(8)).capitalize()
        para = " ".join(r.choice(WORDS) for _ in range(90))
        when = format_datetime(T0 + timedelta(minutes=37 * n), usegmt=True)
        items.append(
            f"<item><title>{title}</title><link>{site}/news/{n}</link>"
            f'<guid isPermaLink="false">{feed}-{n}</guid><pubDate>{when}</pubDate>'
            f"<author>desk{rng.randint(1, 9)}@outlet.example (Desk)</author>"
            f"<description><![CDATA[<p>{para[:300]} <b>{title}</b></p><p>{para[300:]} "
            f'<a href="/news/{n - 1}">earlier</a></p>]]></description></item>')
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Outlet {feed}</title><link>{site}/</link><description>News</description>"
            f"{''.join(items)}</channel></rss>").encode()


# the server, in its own process ----------------------------------------------------------------


def serve(port: int, hosts: int, interval: float, change: float, ready: object) -> None:
    from aiohttp import web

    started = time.monotonic()
    every = interval / change if change > 0 else float("inf")  # a feed changes this often
    cache: dict[tuple[int, int], bytes] = {}

    async def feed(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        offset = (n * 7919 % 10_000) / 10_000 * every if change > 0 else 0.0
        version = int((time.monotonic() - started + offset) // every) if change > 0 else 0
        etag = f'"{n}-{version}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body = cache.get((n, version))
        if body is None:
            body = cache[(n, version)] = document(n, version)
        return web.Response(body=body, content_type="application/rss+xml",
                            headers={"ETag": etag})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", feed)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for h in range(1, hosts + 1):
            await web.TCPSite(runner, f"127.0.0.{h}", port, backlog=1024).start()
        ready.set()  # type: ignore[attr-defined]
        await asyncio.Event().wait()

    asyncio.run(main())


# the client ------------------------------------------------------------------------------------


class Timed:
    """Wraps a fetcher: records how late each fetch started against the latest its schedule
    allowed (interval × (1 + jitter) after the previous fetch ended; the spread for the first)."""

    def __init__(self, inner: FeedFetcher, lateness: list[float], interval: float,
                 t0: float) -> None:
        self.inner = inner
        self.source_id, self.kind = inner.source_id, inner.kind
        self.lateness, self.interval, self.t0 = lateness, interval, t0
        self.ended: float | None = None

    async def fetch(self, cursor: str | None) -> Batch:
        now = time.monotonic()
        allowed = (self.t0 + self.interval) if self.ended is None else (
            self.ended + self.interval * 1.1)
        self.lateness.append(max(0.0, now - allowed))
        try:
            return await self.inner.fetch(cursor)
        finally:
            self.ended = time.monotonic()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def run_client(args: argparse.Namespace, port: int) -> None:
    store = None
    if args.store:
        from bot.settings import StorageSettings
        from bot.storage import open_store

        store = open_store(StorageSettings(path=str(Path(tempfile.mkdtemp()) / "feeds.db")))
        for i in range(args.feeds):
            store.add_source(SourceRecord(f"f{i}", "rss", ""))
    client, limiter = feed_pool()
    schedule = _rss_schedule(args.interval)
    lateness: list[float] = []
    t0 = time.monotonic()
    pollers = []
    for i in range(args.feeds):
        url = f"http://127.0.0.{i % args.hosts + 1}:{port}/feed/{i}"
        fetcher = Timed(FeedFetcher(f"f{i}", url, client=client, limiter=limiter),
                        lateness, args.interval, t0)
        save = (lambda c, sid=f"f{i}": store.set_cursor(sid, c)) if store else None  # noqa: B023
        pollers.append(Poller(fetcher, schedule, save=save))
    emitted = 0

    async def emit(post: Post) -> None:
        nonlocal emitted
        emitted += 1

    stop = asyncio.Event()
    cpu0, wall0 = time.process_time(), time.monotonic()
    tasks = [asyncio.create_task(p.run(emit, stop)) for p in pollers]
    # The first interval parses every feed in full; after it, most answers are 304.
    await asyncio.sleep(args.interval * 1.1)
    cpu1, wall1 = time.process_time(), time.monotonic()
    await asyncio.sleep(max(0.0, args.interval * (args.rounds - 1.1)))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    steady = 100 * (time.process_time() - cpu1) / max(1e-9, time.monotonic() - wall1)
    stop.set()
    await asyncio.gather(*tasks)
    await close_feed_pool()
    if store is not None:
        store.close()
    failing = sum(1 for p in pollers if p.health.failures)
    errors = {p.health.last_error for p in pollers if p.health.last_error}
    late = sorted(lateness) or [0.0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    share = 100 * cpu / wall
    print(f"{args.feeds} feeds on {args.hosts} hosts, interval {args.interval:g}s x "
          f"{args.rounds} rounds, {100 * args.change:g}% changing per interval, "
          f"store {'sqlite' if store else 'none'}, {os.cpu_count()} cpus")
    print(f"polls {len(lateness)} ({len(lateness) / wall:.1f}/s), items emitted {emitted}, "
          f"failing {failing}{' e.g. ' + next(iter(errors))[:120] if errors else ''}")
    print(f"CPU {share:.1f}% of one core (client only), after the first interval "
          f"{steady:.1f}%; scaled to a 600 s interval ~{share * args.interval / 600:.1f}% and "
          f"~{steady * args.interval / 600:.1f}%; peak RSS {peak:.0f} MB")
    print(f"lateness p50 {statistics.median(late) * 1000:.1f} ms, "
          f"p99 {late[int(0.99 * (len(late) - 1))] * 1000:.1f} ms, max {late[-1] * 1000:.1f} ms")


def parse_costs(samples: int = 200) -> None:
    from bot.sources.feedparse import parse_feed

    bodies = [document(i, i % 50) for i in range(samples)]
    candidates = {"wirewatch parse_feed (+ identity, tags kept)":
                  lambda b: parse_feed(b, "https://outlet.example/rss")}
    for name, module in (("feedparser-rs", "feedparser_rs"), ("feedparser", "feedparser"),
                         ("fastfeedparser", "fastfeedparser")):
        try:
            candidates[name] = __import__(module).parse
        except ImportError:
            print(f"{name}: not installed (pip install -e '.[feeds-bench]')")
    print(f"parse cost per feed ({len(bodies[0]) // 1024} kB, 20 items), {samples} documents:")
    for name, parse in candidates.items():
        parse(bodies[0])
        start = time.perf_counter()
        for body in bodies:
            parse(body)
        print(f"  {name:45s} {(time.perf_counter() - start) / samples * 1000:7.2f} ms")


EXPECTED = {  # document: items, and whether every item has a date (RSS 0.91 has none)
    "rss2.xml": (3, True), "atom.xml": (2, True), "feed.json": (2, True),
    "rss1.xml": (2, True), "rss091.xml": (1, False),
}


def correctness() -> None:
    """Each candidate on tests/data/feeds: items found, links absolute, text, dates."""
    data = Path(__file__).resolve().parents[1] / "tests/data/feeds"
    print("correctness on tests/data/feeds (items / absolute links / text / dates):")
    for name, module in (("feedparser-rs", "feedparser_rs"), ("feedparser", "feedparser"),
                         ("fastfeedparser", "fastfeedparser")):
        try:
            parse = __import__(module).parse
        except ImportError:
            continue
        marks = []
        for doc, (count, dated) in EXPECTED.items():
            try:
                entries = list(parse((data / doc).read_bytes()).entries)
            except Exception as exc:  # a candidate that raises scores nothing here
                marks.append(f"{doc}: raised {type(exc).__name__}")
                continue
            links = all(str(e.get("link") or "").startswith("http") for e in entries)
            text = all(e.get("summary") or e.get("content") for e in entries)
            dates = not dated or all(e.get("published_parsed") or e.get("updated_parsed")
                                     or e.get("published") for e in entries)
            ok = [len(entries) == count, links, text, dates]
            marks.append(f"{doc}: " + "".join("✓" if x else "✗" for x in ok))
        print(f"  {name:15s} " + "  ".join(marks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0,
                        help="seconds (the real one is 600: see the module docstring)")
    parser.add_argument("--rounds", type=int, default=3, help="intervals to run")
    parser.add_argument("--change", type=float, default=0.05,
                        help="share of feeds with a new item per interval")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--port", type=int, default=18_931)
    parser.add_argument("--store", action="store_true", help="save cursors into SQLite")
    parser.add_argument("--parse-only", action="store_true")
    args = parser.parse_args()
    correctness()
    parse_costs()
    if args.parse_only:
        return
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=serve, args=(args.port, args.hosts, args.interval,
                                             args.change, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the loopback feed server did not start")
        asyncio.run(run_client(args, args.port))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
