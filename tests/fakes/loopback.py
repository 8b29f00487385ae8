"""This module contains small loopback test helpers: serve an aiohttp app on a free port,
and wait for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

T = TypeVar("T")


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Start `app` on 127.0.0.1; returns the runner (cleanup() it) and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def eventually(predicate: Callable[[], T], what: str = "", timeout: float = 8.0) -> T:
    """Wait until `predicate()` is truthy (polled every 10 ms: store changes notify nobody);
    return its value, or raise TimeoutError naming `what`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what or predicate}")
        await asyncio.sleep(0.01)
