"""This module contains a loopback LibreTranslate-compatible server with fault injection.

It speaks the part of the LibreTranslate API that deep-translator's LibreTranslator uses:
POST /translate reading q, source, target, format and api_key from the query string (where
deep-translator puts them), a form body or a JSON body, like the real server; and
GET /languages. Its "translation" is recognisable: `render(text, target)` gives
"[en] " + the text upper-cased. Every request is recorded in `seen`.

Faults are consumed one per /translate request from `faults`, then `always` applies:
"hang" (no answer until `hang_seconds` or close), "429", "500", "502", "malformed" (HTTP 200
with broken JSON), "empty" (an empty translatedText), "400".
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

LANGUAGES = {"en": "English", "ru": "Russian", "uk": "Ukrainian", "ko": "Korean", "de": "German",
             "fr": "French", "pl": "Polish"}
FAULTS = ("hang", "429", "500", "502", "malformed", "empty", "400")


def render(text: str, target: str) -> str:
    """The fake's deterministic 'translation' of `text` into `target`."""
    return f"[{target}] {text.upper()}"


def unused_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, Any]
    raw_path: str  # path and query string as sent: its length is the request line's
    fault: str | None = None


@dataclass
class FakeLibreTranslate:
    languages: dict[str, str] = field(default_factory=lambda: dict(LANGUAGES))
    api_keys: set[str] | None = None  # None: keys are not checked
    hang_seconds: float = 30.0
    latency: float = 0.0  # seconds before every answer
    faults: list[str] = field(default_factory=list)
    always: str | None = None
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _runner: web.AppRunner | None = None
    _port: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    @property
    def translations(self) -> list[Seen]:
        """The /translate requests, in arrival order."""
        return [s for s in self.seen if s.path == "/translate"]

    async def start(self) -> FakeLibreTranslate:
        app = web.Application()
        app.router.add_post("/translate", self._translate)
        app.router.add_get("/languages", self._languages)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self._released.set()  # let hanging handlers finish
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeLibreTranslate:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _languages(self, request: web.Request) -> web.Response:
        self.seen.append(Seen(request.method, request.path, dict(request.query), request.raw_path))
        codes = list(self.languages)
        return web.json_response(
            [{"code": c, "name": n, "targets": [t for t in codes if t != c]} for c, n in self.languages.items()]
        )

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            params.update(await request.post())
        return params

    async def _translate(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        fault = self.faults.pop(0) if self.faults else self.always
        self.seen.append(Seen(request.method, request.path, params, request.raw_path, fault))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return await self._answer(params, fault)
        finally:
            self.in_flight -= 1

    async def _answer(self, params: dict[str, Any], fault: str | None) -> web.Response:
        if fault == "hang":
            try:
                await asyncio.wait_for(self._released.wait(), self.hang_seconds)
            except TimeoutError:
                pass
        elif fault in ("429", "500", "502", "400"):
            return web.json_response({"error": f"injected {fault}"}, status=int(fault))
        elif fault == "malformed":
            return web.Response(text='{"translatedText": "unterminated', content_type="application/json")
        if self.api_keys is not None and params.get("api_key") not in self.api_keys:
            return web.json_response({"error": "Invalid API key"}, status=403)
        q, source, target = params.get("q"), params.get("source"), params.get("target")
        if not q:
            return web.json_response({"error": "Invalid request: missing q parameter"}, status=400)
        for code in (source, target):
            if code not in self.languages and not (code == "auto" and code is source):
                return web.json_response({"error": f"{code} is not supported"}, status=400)
        if fault == "empty":
            return web.json_response({"translatedText": ""})
        body: dict[str, Any] = {"translatedText": render(q, target)}
        if source == "auto":
            body["detectedLanguage"] = {"confidence": 90.0, "language": "ru"}
        return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="application/json")
