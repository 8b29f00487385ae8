"""This module contains helpers for the Telegram end-to-end tests: a config written as YAML,
wirewatch started the way `wirewatch run` starts it (in this process, or as a real child
process that a test can kill), and a way to wait on conditions instead of the clock.

Run as `python -m tests.integration.telegram_helpers <config.yaml> <lease> <worker>` it is
that child process: `bot.service.run` with the given outbox lease, until SIGTERM or SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from bot import service
from bot.bootstrap import App
from bot.settings import Settings, parse_settings
from tests.fakes.loopback import eventually

REPO = Path(__file__).resolve().parents[2]
# Distinct chats per purpose; AIORateLimiter allows 20 messages a minute per group.
CHANNEL = -1001000000001  # a Russian channel the bot administers (public: @frontline_ru)
PRIVATE_CHANNEL = -1001000000002  # a private channel (t.me/c/ links)
GROUP_SOURCE = -1001000000003  # a monitored supergroup, privacy mode off
ROOM = -1002000000001  # the newsroom where alerts go
FORUM = -1002000000002  # a forum supergroup: alerts go into one topic
DESK = -1002000000003  # a second room, for tests that send many answers
ADMIN, MEMBER, EDITOR = 111, 222, 333  # chat admin, plain member, moderator listed in config
NK_KURSK = "entity:north_korea AND entity:kursk"


def config_text(api: Any, libre: Any, db: Path, *, rooms: list[dict[str, Any]] | None = None,
                sources: list[dict[str, Any]] | None = None, moderators: tuple[int, ...] = (),
                alert_wait: float = 3.0, stories: bool = False) -> str:
    """A wirewatch YAML config aimed at the fake Bot API and the fake LibreTranslate. Story
    grouping is off unless asked for: these tests post one text several times as distinct
    alerts."""
    data = {
        "storage": {"path": str(db)},
        "stories": {"enabled": stories},
        "telegram": {"base_url": api.base_url, "base_file_url": api.base_file_url,
                     "moderators": list(moderators), "admin_cache_seconds": 60},
        "translation": {"providers": [{"name": "libre", "url": libre.url}], "timeout": 3.0,
                        "retries": 0, "alert_wait": alert_wait},
        "sources": sources if sources is not None else [
            {"id": "frontline", "platform": "telegram", "chat": CHANNEL},
            {"id": "insider", "platform": "telegram", "chat": PRIVATE_CHANNEL},
            {"id": "osint-chat", "platform": "telegram", "chat": GROUP_SOURCE},
        ],
        "rooms": rooms if rooms is not None else [
            {"id": "newsroom", "platform": "telegram", "chat": ROOM, "language": "en",
             "subscriptions": [{"id": "nk-kursk", "query": NK_KURSK}]},
        ],
    }
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)




def with_delivery(settings: Settings, **delivery: Any) -> Settings:
    """These settings with some `delivery:` keys replaced (lease, worker, stale_after)."""
    given = {k: v for k, v in delivery.items() if v is not None}
    return settings.model_copy(update={"delivery": settings.delivery.model_copy(update=given)})


def open_app(settings: Settings, lease: float = 120.0, worker: str | None = None) -> App:
    return App.open(with_delivery(settings, lease=lease, worker=worker))


class Wirewatch:
    """`wirewatch run` in this event loop: `async with Wirewatch(settings, api) as ww:`."""

    def __init__(self, settings: Settings, api: Any, *, lease: float = 120.0,
                 worker: str | None = None) -> None:
        self.settings = with_delivery(settings, lease=lease, worker=worker)
        self.api = api
        self.app = App.open(self.settings)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[int] | None = None

    @property
    def store(self) -> Any:
        return self.app.store

    async def __aenter__(self) -> Wirewatch:
        polls = len([c for c in self.api.calls if c.method == "getUpdates"])
        self.task = asyncio.create_task(service.run(self.settings, stop=self.stop, app=self.app))

        def polling() -> bool:
            if self.task is not None and self.task.done():
                self.task.result()  # raise what stopped it
                raise RuntimeError("wirewatch exited during start")
            return len([c for c in self.api.calls if c.method == "getUpdates"]) > polls

        await eventually(polling, "wirewatch to start polling")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 15)


def process_config(api: Any, db: Path, client: str, *, worker: str | None = None,
                   **delivery: Any) -> dict[str, Any]:
    """The config of one `wirewatch run` process sharing `db` and the fake Bot API, whose
    calls the fake records under `client`; no translator, so alerts go out at once. No
    story grouping: these tests count one alert per numbered copy of one text."""
    return {
        "storage": {"path": str(db)},
        "stories": {"enabled": False},
        "telegram": {"base_url": api.client_base_url(client), "base_file_url": api.base_file_url},
        "delivery": {**({"worker": worker} if worker else {}), **delivery},
        "sources": [{"id": "frontline", "platform": "telegram", "chat": CHANNEL}],
        "rooms": [{"id": "newsroom", "platform": "telegram", "chat": ROOM, "language": "en",
                   "subscriptions": [{"id": "nk-kursk", "query": NK_KURSK}]}],
    }


class Process:
    """`wirewatch run --config PATH --role ROLE` as a child process, its output in a file."""

    def __init__(self, tmp: Path, name: str, config: dict[str, Any], role: str = "all") -> None:
        self.name = name
        self.config = tmp / f"{name}.yaml"
        self.config.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        self.log = tmp / f"{name}.log"
        self.role = role
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Process:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", "--config", str(self.config),
                "--role", self.role, cwd=REPO, stdout=out, stderr=out)
        return self

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def running(self) -> bool:
        """True once it says it runs; raises if it exited first."""
        if self.proc is not None and self.proc.returncode is not None:
            raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.output()}")
        return "wirewatch running" in self.output()

    def kill(self) -> None:
        """SIGKILL: no clean-up code runs."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not end in time."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.terminate()
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise


def main(argv: list[str]) -> int:
    config, lease, worker = argv[0], float(argv[1]), argv[2]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = parse_settings(Path(config).read_text(encoding="utf-8"), config)
    return asyncio.run(service.run(with_delivery(settings, lease=lease, worker=worker)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
