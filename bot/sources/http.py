"""This module contains the HTTP fetch that polled sources share (t.me/s previews, feeds next).

One GET with a size cap (a huge or endless body is a failed poll, not a full memory), transport
errors turned into `SourceError`, and the status check that reads Retry-After (through the one
parser in `bot.backoff`) on 429 and 503, so the poller waits as long as the server asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from bot.backoff import parse_retry_after
from bot.errors import SourceError

USER_AGENT = "Mozilla/5.0 (compatible; wirewatch/0.1; news monitoring)"
MAX_BODY = 5 * 1024 * 1024
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class Fetched:
    """An answer read in full: its status, headers and final URL, and the body as bytes."""

    response: httpx.Response  # closed; its body is `body`
    body: bytes

    @property
    def text(self) -> str:
        """The body decoded with the charset the server named (UTF-8 otherwise)."""
        return self.body.decode(self.response.encoding or "utf-8", errors="replace")


def make_client(*, timeout: float = 20.0, headers: Mapping[str, str] | None = None,
                follow_redirects: bool = True,
                limits: httpx.Limits | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, follow_redirects=follow_redirects,
                             headers={"User-Agent": USER_AGENT, **(headers or {})},
                             limits=limits or httpx.Limits(), max_redirects=5)


async def get(client: httpx.AsyncClient, url: str, *,
              params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
              max_bytes: int = MAX_BODY) -> Fetched:
    """GET `url` and read at most `max_bytes` of body; SourceError when that fails."""
    try:
        async with client.stream("GET", url, params=params, headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise SourceError(f"{url}: answer larger than {max_bytes} bytes; not read")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise SourceError(f"{url}: {type(exc).__name__}: {exc}".rstrip(": ")) from exc
    return Fetched(response, b"".join(chunks))


def check_status(response: httpx.Response, url: str) -> None:
    """SourceError for a 4xx/5xx answer, carrying the Retry-After of a 429 or 503."""
    status = response.status_code
    if status < 400:
        return
    retry_after = (parse_retry_after(response.headers.get("Retry-After"))
                   if status in RETRY_AFTER_STATUSES else None)
    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
    raise SourceError(f"{url}: HTTP {status}{reason}", retry_after=retry_after)
