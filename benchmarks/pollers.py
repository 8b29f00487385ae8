"""Many polled sources on one core: the generic poller's CPU share, memory and lateness.

Usage: python benchmarks/pollers.py [--sources N] [--interval S] [--duration S] [--jitter F]

N t.me/s sources (the real fetcher and parser, the generic `Poller`) poll one loopback server
that serves the 6-post preview page of tests/data; after the first poll nothing is new, as for
most sources most of the time. First polls are spread over a whole interval. Reported: CPU
share of this process (server included, so an upper bound), peak RSS, polls done, and the
lateness of each poll (how much later than its schedule it started) at p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.backoff import Schedule  # noqa: E402
from bot.model import Post  # noqa: E402
from bot.ports import Batch  # noqa: E402
from bot.sources.poller import Poller  # noqa: E402
from bot.sources.telegram_public import TelegramPublicFetcher  # noqa: E402

PAGE = (Path(__file__).resolve().parents[1] / "tests/data/tme_s_page1.html").read_text("utf-8")


class Timed:
    """Wraps a fetcher, recording when each fetch started and when the previous one ended."""

    def __init__(self, inner: TelegramPublicFetcher, lateness: list[float], interval: float,
                 jitter: float) -> None:
        self.inner = inner
        self.source_id, self.kind = inner.source_id, inner.kind
        self.lateness = lateness
        self.interval = interval
        self.jitter = jitter
        self.ended: float | None = None

    async def fetch(self, cursor: str | None) -> Batch:
        now = time.monotonic()
        if self.ended is not None:  # the latest the schedule allows is interval * (1 + jitter)
            self.lateness.append(max(0.0, now - self.ended - self.interval * (1 + self.jitter)))
        try:
            return await self.inner.fetch(cursor)
        finally:
            self.ended = time.monotonic()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def main(args: argparse.Namespace) -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/s/{name}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/s/"
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=100), timeout=30)

    lateness: list[float] = []
    schedule = Schedule(args.interval, jitter=args.jitter, start_spread=args.interval)
    pollers = [Poller(Timed(TelegramPublicFetcher(f"s{i}", "kursk_frontline", base_url=base,
                                                  client=client),
                            lateness, args.interval, args.jitter), schedule)
               for i in range(args.sources)]
    stop = asyncio.Event()
    emitted = 0

    async def emit(post: Post) -> None:
        nonlocal emitted
        emitted += 1

    cpu0, wall0 = time.process_time(), time.monotonic()
    tasks = [asyncio.create_task(p.run(emit, stop)) for p in pollers]
    await asyncio.sleep(args.duration)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    stop.set()
    await asyncio.gather(*tasks)
    await client.aclose()
    await runner.cleanup()

    never = sum(1 for p in pollers if p.health.last_ok is None)
    polls = args.sources - never + len(lateness)
    failures = sum(p.health.failures for p in pollers)
    late = sorted(lateness) or [0.0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.sources} sources, interval {args.interval:g}s, jitter {args.jitter:g}, "
          f"{args.duration:g}s on {os.cpu_count()} cpus")
    print(f"polls {polls} ({polls / wall:.1f}/s), posts emitted {emitted}, failing {failures}, "
          f"never polled {never}")
    print(f"CPU {100 * cpu / wall:.1f}% of one core (client and server), peak RSS {peak_mb:.0f} MB")
    print(f"lateness p50 {statistics.median(late) * 1000:.1f} ms, "
          f"p99 {late[int(0.99 * (len(late) - 1))] * 1000:.1f} ms, max {late[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--jitter", type=float, default=0.1)
    asyncio.run(main(parser.parse_args()))
